// The `sluice` program: one subcommand per job (DESIGN.md §6).
#include <cstdio>

#include "util/error.h"

int main(int argc, char** argv) {
    std::fprintf(stderr, "sluice: no command given\n");
    return 2;
}
