"""Train sluice's demo model: a small Qwen3.5-MoE (Gated DeltaNet + gated attention, routed experts
and a sigmoid-gated shared expert) on the corpus of get_corpus.sh, with its own byte-level BPE.

usage: train.py --corpus DIR --out DIR [--minutes M] [--deadline UNIX_TIME] [--smoke]

Runs where torch, transformers 5.x, tokenizers and safetensors are installed (a CUDA GPU, or the
CPU for --smoke), with no network. Steps: (1) tokenizer trained on train.txt as the fixtures' is
built (NFC, Qwen2 split pattern, byte alphabet, <|endoftext|> <|im_start|> <|im_end|> as the last
ids, Qwen3's chat template); (2) the model trained from scratch, bf16 autocast, AdamW, warmup then
cosine over a wall-clock budget, held-out loss every --eval-every steps, the best weights saved
each time they improve; (3) held-out perplexity of the saved weights in float32, chunked exactly as
llama.cpp's perplexity tool does; (4) greedy and sampled text. OUT ends with 8 flat files: the
Hugging Face folder (config.json, generation_config.json, tokenizer.json, tokenizer_config.json,
model.safetensors.index.json and two shards under 12 MB) and train_summary.json (settings, log,
results, samples; rewritten at every evaluation, so a run cut short still leaves one).
"""
import argparse
import copy
import json
import math
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
# Qwen2's pre-tokeniser split (the fixtures' tokenizer, make_tiny_tokenizer.py).
SPLIT_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
BOOK_SEPARATOR = "\n<|endoftext|>\n"
SHARD_LIMIT = 12_000_000          # bytes; each shard must come back from the GPU machine and stay small

# The demo geometry: hidden 256 (rows of 256 values quantise to Q4_K), 8 layers of 3 Gated DeltaNet
# then 1 gated full attention, 16 routed experts of width 64 (top 4) plus a shared expert as wide as one
# routed expert (Qwen3.5's ratio). Tied embeddings; 10.9M parameters, 57% of them in routed experts.
GEOMETRY = dict(hidden_size=256, num_hidden_layers=8, num_attention_heads=4, num_key_value_heads=2, head_dim=64,
                partial_rotary_factor=0.25, linear_conv_kernel_dim=4, linear_key_head_dim=64,
                linear_value_head_dim=64, linear_num_key_heads=2, linear_num_value_heads=4,
                moe_intermediate_size=64, shared_expert_intermediate_size=64, num_experts=16, num_experts_per_tok=4,
                max_position_embeddings=2048, rms_norm_eps=1e-6, tie_word_embeddings=True)
SMOKE_GEOMETRY = dict(GEOMETRY, hidden_size=64, num_hidden_layers=4, head_dim=32, linear_key_head_dim=16,
                      linear_value_head_dim=16, moe_intermediate_size=32, shared_expert_intermediate_size=32)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", default=os.path.join(HERE, "..", "..", ".corpus"),
                   help="folder with train.txt and heldout.txt (get_corpus.sh)")
    p.add_argument("--out", required=True, help="output folder (kept flat: 8 files)")
    p.add_argument("--smoke", action="store_true", help="tiny model, 512-token vocabulary, 30 s: checks the pipeline")
    p.add_argument("--minutes", type=float, default=None, help="training wall-clock budget (default 6, smoke 0.5)")
    p.add_argument("--deadline", type=float, default=None,
                   help="unix time by which the whole script must end; training stops --reserve s before it")
    p.add_argument("--reserve", type=float, default=75.0, help="seconds kept for the final evaluation and saving")
    p.add_argument("--vocab", type=int, default=None, help="vocabulary size (default 8192, smoke 512)")
    p.add_argument("--seq", type=int, default=512, help="training sequence length")
    p.add_argument("--batch", type=int, default=64, help="sequences per step")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr-ratio", type=float, default=0.1, help="cosine floor as a fraction of --lr")
    p.add_argument("--warmup", type=float, default=0.03, help="warmup as a fraction of the budget")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--aux-coef", type=float, default=0.01,
                   help="router_aux_loss_coef: weight of the Switch-style load-balancing loss")
    p.add_argument("--eval-every", type=int, default=100, help="steps between held-out evaluations")
    p.add_argument("--eval-chunks", type=int, default=32, help="512-token held-out chunks in each evaluation")
    p.add_argument("--ppl-ctx", type=int, default=512, help="n_ctx of the final llama.cpp-style perplexity")
    p.add_argument("--prompt", action="append", default=None, help="prompt for the samples (repeatable)")
    p.add_argument("--sample-tokens", type=int, default=120)
    p.add_argument("--seed", type=int, default=1234)
    a = p.parse_args()
    if a.minutes is None:
        a.minutes = 0.5 if a.smoke else 6.0
    if a.vocab is None:
        a.vocab = 512 if a.smoke else 8192
    if a.prompt is None:
        a.prompt = ["It was a fine morning, and Elizabeth", "And it came to pass, when"]
    return a


class Log:
    """Progress on stdout (flushed) and in train_summary.json, rewritten atomically."""

    def __init__(self, out_dir):
        self.path = os.path.join(out_dir, "train_summary.json")
        self.t0 = time.time()
        self.summary = {"status": "starting", "log": []}

    def __call__(self, msg):
        line = f"[{time.time() - self.t0:7.1f}s] {msg}"
        print(line, flush=True)
        self.summary["log"].append(line)

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.summary, f, indent=1)
        os.replace(tmp, self.path)


def read_corpus(corpus_dir, smoke):
    with open(os.path.join(corpus_dir, "train.txt"), encoding="utf-8") as f:
        train = f.read()
    with open(os.path.join(corpus_dir, "heldout.txt"), encoding="utf-8") as f:
        heldout = f.read()
    books = [b for b in train.split(BOOK_SEPARATOR) if b.strip()]
    if smoke:  # a slice of every book keeps the smoke run short but its data varied
        books = [b[:150_000] for b in books]
    return books, heldout


def train_tokenizer(books, vocab, out_dir, log):
    """Byte-level BPE as make_tiny_tokenizer.py builds the fixtures' (the book separators are not text)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab - len(SPECIALS), initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[], show_progress=False)
    lines = (line for b in books for line in b.splitlines(keepends=True))
    tok.train_from_iterator(lines, trainer)
    tok.add_special_tokens(SPECIALS)
    if tok.get_vocab_size() != vocab:
        raise SystemExit(f"tokenizer: {tok.get_vocab_size()} tokens learned, expected {vocab} (corpus too small?)")
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    ids = {s: tok.token_to_id(s) for s in SPECIALS}
    with open(os.path.join(HERE, "qwen3_tokenizer_config.json")) as f:
        cfg = json.load(f)
    cfg["added_tokens_decoder"] = {str(i): {"content": s, "special": True, "lstrip": False, "rstrip": False,
                                            "normalized": False, "single_word": False} for s, i in ids.items()}
    cfg["additional_special_tokens"] = ["<|im_start|>", "<|im_end|>"]
    # A base model: it ends text with <|endoftext|>, the id the book boundaries were trained with.
    cfg["eos_token"] = "<|endoftext|>"
    cfg["pad_token"] = "<|endoftext|>"
    cfg["bos_token"] = None
    cfg["model_max_length"] = 2048
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    log(f"tokenizer: {vocab} tokens, specials {ids}; 'Hello world, hacker!' -> {tok.encode('Hello world, hacker!').ids}")
    try:
        from transformers import PreTrainedTokenizerFast
        t = PreTrainedTokenizerFast(tokenizer_file=os.path.join(out_dir, "tokenizer.json"))
        t.chat_template = cfg["chat_template"]
        r = t.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
        log(f"chat template renders {r!r}")
    except Exception as e:  # the template only matters for chat; training goes on
        log(f"WARNING chat template check failed: {e!r}")
    return tok, ids


def encode_books(tok, books, eos_id):
    """Token ids of every book followed by <|endoftext|>. Books are encoded in paragraph batches
    (in parallel); a paragraph keeps its trailing blank line, so the pieces are those of the whole text."""
    out = []
    for b in books:
        paras = [p + "\n\n" for p in b.split("\n\n")]
        paras[-1] = paras[-1][:-2]
        for enc in tok.encode_batch(paras, add_special_tokens=False):
            out.extend(enc.ids)
        out.append(eos_id)
    return out


def build_model(args, vocab, ids, log):
    import torch
    from transformers.models.qwen3_5_moe import Qwen3_5MoeForCausalLM, Qwen3_5MoeTextConfig
    geometry = SMOKE_GEOMETRY if args.smoke else GEOMETRY
    L = geometry["num_hidden_layers"]
    layer_types = ["linear_attention" if (i + 1) % 4 else "full_attention" for i in range(L)]
    cfg = Qwen3_5MoeTextConfig(vocab_size=vocab, layer_types=layer_types,
                                           router_aux_loss_coef=args.aux_coef, output_router_logits=False,
                                           bos_token_id=None, eos_token_id=ids["<|endoftext|>"],
                                           pad_token_id=None, **geometry)  # a pad id would freeze that embedding row
    torch.manual_seed(args.seed)
    model = Qwen3_5MoeForCausalLM(cfg)
    emb, head = model.model.embed_tokens.weight, model.lm_head.weight
    if geometry["tie_word_embeddings"] and emb.data_ptr() != head.data_ptr():
        model.lm_head.weight = emb
        log("tied lm_head to the embedding by hand")
    return model, cfg


def count_params(model, cfg):
    """Parameters per part and the size of a Q4_K GGUF (rows of 256 → Q4_K 4.5 bits, else Q5_0 5.5 bits
    when rows are a multiple of 32, else F16; routers, norms and 1-D tensors F32), as sluice converts."""
    seen, parts, gguf_bits = set(), {"experts": 0, "embedding": 0, "other": 0}, 0
    for name, p in model.named_parameters():
        if p.data_ptr() in seen:
            continue
        seen.add(p.data_ptr())
        n = p.numel()
        part = "experts" if ".mlp.experts." in name else "embedding" if "embed_tokens" in name or "lm_head" in name else "other"
        parts[part] += n
        cols = p.shape[-1]
        if p.dim() < 2 or ".mlp.gate." in name or "shared_expert_gate" in name or "conv1d" in name:
            bits = 32
        elif cols % 256 == 0:
            bits = 4.5
        elif cols % 32 == 0:
            bits = 5.5
        else:
            bits = 16
        gguf_bits += n * bits
    total = sum(parts.values())
    active = parts["embedding"] + parts["other"] + parts["experts"] * cfg.num_experts_per_tok // cfg.num_experts
    return {"total": total, "active_per_token": active, **parts, "q4_k_gguf_bytes_estimate": int(gguf_bits / 8)}


def set_experts_implementation(model, name):
    """Selects transformers' experts kernel by name; False if it did not take."""
    try:
        if hasattr(model, "set_experts_implementation"):
            model.set_experts_implementation(name)
        else:
            model.config._experts_implementation = name
    except Exception:
        try:
            model.config._experts_implementation = name
        except Exception:
            return False
    now = getattr(model.model.layers[0].mlp.experts.config, "_experts_implementation", name)
    return now == name


def pick_experts_implementation(model, batch_fn, step_fn, log):
    """The faster of transformers' experts kernels that runs a forward and backward here: grouped_mm (one
    grouped GEMM, needs a recent GPU) or the eager loop over experts. batched_mm is not tried: it gathers a
    weight matrix per token and choice, tens of GB for a 32k-token batch."""
    import torch
    best = None
    for name in ["grouped_mm", "eager"]:
        if not set_experts_implementation(model, name):
            log(f"experts kernel {name}: not available")
            continue
        try:
            times = []
            for _ in range(4):
                t = time.time()
                step_fn(batch_fn(), backward=True)
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                times.append(time.time() - t)
            model.zero_grad(set_to_none=True)
            s = min(times[1:])
            log(f"experts kernel {name}: {s * 1000:.0f} ms per step")
            if best is None or s < best[1]:
                best = (name, s)
        except Exception as e:
            model.zero_grad(set_to_none=True)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            log(f"experts kernel {name}: failed ({type(e).__name__}: {str(e)[:200]})")
    if best is None:
        raise SystemExit("no experts implementation runs a training step (see the messages above)")
    set_experts_implementation(model, best[0])
    return best[0]


def router_balance(router_logits, k, n_experts):
    """Per layer: each expert's share of the top-k choices × n_experts (1.0 everywhere = perfectly even)."""
    import torch
    loads = []
    for r in router_logits:
        top = torch.topk(r.float().reshape(-1, n_experts), k, dim=-1).indices
        share = torch.bincount(top.reshape(-1), minlength=n_experts).float() / top.numel()
        loads.append([round(float(x) * n_experts, 3) for x in share])
    return loads


def balance_line(loads):
    return " ".join(f"L{i}:{max(l):.2f}/{min(l):.2f}" for i, l in enumerate(loads))


def llama_perplexity(model, tokens, n_ctx, batch, device):
    """llama.cpp's perplexity tool: the whole text's tokens cut into n_ctx chunks (no BOS for this
    vocabulary); in each chunk the logits at positions n_ctx/2 … n_ctx−2 are scored on the next token."""
    import torch
    n_chunk = len(tokens) // n_ctx
    if n_chunk < 1:
        raise SystemExit(f"perplexity: {len(tokens)} held-out tokens are fewer than n_ctx {n_ctx}")
    first = n_ctx // 2
    t = torch.tensor(tokens[:n_chunk * n_ctx], dtype=torch.long, device=device).view(n_chunk, n_ctx)
    nll, count = 0.0, 0
    with torch.no_grad():
        for b in range(0, n_chunk, batch):
            x = t[b:b + batch]
            logits = model(input_ids=x, use_cache=False).logits.float()
            lp = torch.log_softmax(logits[:, first:n_ctx - 1], dim=-1)
            nll += float(-lp.gather(-1, x[:, first + 1:n_ctx, None]).double().sum())
            count += x[:, first + 1:n_ctx].numel()
    return math.exp(nll / count), n_chunk, count


def save_sharded(model, out_dir, log):
    """save_pretrained's tensors (in bf16) and config, re-cut into as few shards below SHARD_LIMIT bytes as
    the sorted tensor order allows (two for the demo geometry)."""
    import torch
    from safetensors.torch import load_file, save_file
    with tempfile.TemporaryDirectory() as tmp:
        copy.deepcopy(model).to(torch.bfloat16).save_pretrained(tmp, max_shard_size="10GB")  # bf16, as releases are
        tensors = {}
        for f in sorted(os.listdir(tmp)):
            if f.endswith(".safetensors"):
                tensors.update(load_file(os.path.join(tmp, f)))
        tensors = {n: t.to(torch.bfloat16) if t.is_floating_point() else t for n, t in tensors.items()}
        if model.config.tie_word_embeddings:
            tensors.pop("lm_head.weight", None)  # the embedding; readers tie it back
        for f in ("config.json", "generation_config.json"):
            if os.path.exists(os.path.join(tmp, f)):
                shutil.copy(os.path.join(tmp, f), os.path.join(out_dir, f))
    names = sorted(tensors)
    nbytes = {n: tensors[n].numel() * tensors[n].element_size() for n in names}
    total = sum(nbytes.values())
    room = SHARD_LIMIT - 256 * 1024  # the JSON header: about 100 bytes per tensor
    groups, cur, cur_bytes = [], [], 0
    for n in names:
        if cur and cur_bytes + nbytes[n] > room:
            groups.append(cur)
            cur, cur_bytes = [], 0
        cur.append(n)
        cur_bytes += nbytes[n]
    groups.append(cur)
    for f in os.listdir(out_dir):  # shards of an earlier, better-or-worse save
        if f.startswith("model") and f.endswith(".safetensors"):
            os.remove(os.path.join(out_dir, f))
    weight_map = {}
    for i, g in enumerate(groups):
        fname = f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
        save_file({n: tensors[n].contiguous() for n in g}, os.path.join(out_dir, fname), metadata={"format": "pt"})
        size = os.path.getsize(os.path.join(out_dir, fname))
        if size >= SHARD_LIMIT:
            log(f"WARNING {fname} is {size} bytes, over {SHARD_LIMIT}")
        weight_map.update({n: fname for n in g})
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1)
    return len(groups), total


def main():
    args = parse_args()
    os.makedirs(args.out, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the GPU machine has no network: never wait for one
    log = Log(args.out)
    try:
        run(args, log)
    except BaseException as e:
        log(f"FAILED: {type(e).__name__}: {e}")
        log.summary["status"] = "failed"
        log.save()
        raise


def run(args, log):
    s = log.summary
    s["settings"] = {k: v for k, v in vars(args).items()}
    log(f"python {sys.version.split()[0]}; args {vars(args)}")
    import torch
    import transformers
    import tokenizers
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, tokenizers {tokenizers.__version__}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        log(f"device {torch.cuda.get_device_name(0)}")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    elif not args.smoke:
        log("WARNING no CUDA device: training on the CPU")
    torch.manual_seed(args.seed)

    books, heldout_text = read_corpus(args.corpus, args.smoke)
    log(f"corpus: {len(books)} training books, {sum(len(b) for b in books)} chars; held out {len(heldout_text)} chars")
    tok, ids = train_tokenizer(books, args.vocab, args.out, log)
    eos = ids["<|endoftext|>"]
    train_ids = encode_books(tok, books, eos)
    heldout_ids = tok.encode(heldout_text, add_special_tokens=False).ids  # the whole text at once, as llama.cpp does
    if args.smoke:
        heldout_ids = heldout_ids[:8 * args.ppl_ctx]
    log.save()
    log(f"tokens: train {len(train_ids)} ({sum(len(b) for b in books) / len(train_ids):.2f} chars/token), "
        f"held out {len(heldout_ids)}")
    s["tokens"] = {"train": len(train_ids), "heldout": len(heldout_ids)}

    model, cfg = build_model(args, args.vocab, ids, log)
    params = count_params(model, cfg)
    s["params"] = params
    log(f"parameters: {params}")
    model.to(device).train()
    data = torch.tensor(train_ids, dtype=torch.long, device=device)
    eval_n = min(args.eval_chunks, len(heldout_ids) // args.seq)
    eval_x = torch.tensor(heldout_ids[:eval_n * args.seq], dtype=torch.long, device=device).view(eval_n, args.seq)
    gen = torch.Generator(device=device).manual_seed(args.seed)
    amp = dict(device_type="cuda", dtype=torch.bfloat16) if device == "cuda" else dict(device_type="cpu", dtype=torch.bfloat16)

    def batch_fn():
        starts = torch.randint(0, len(data) - args.seq - 1, (args.batch,), device=device, generator=gen)
        idx = starts[:, None] + torch.arange(args.seq + 1, device=device)[None]
        return data[idx]

    def step_fn(xy, backward):
        with torch.autocast(**amp):
            out = model(input_ids=xy[:, :-1], use_cache=False, output_router_logits=True)
        ce = torch.nn.functional.cross_entropy(out.logits.float().reshape(-1, args.vocab), xy[:, 1:].reshape(-1))
        aux = out.aux_loss.float() if out.aux_loss is not None else torch.zeros((), device=ce.device)
        loss = ce + args.aux_coef * aux
        if backward:
            loss.backward()
        return ce, aux, out.router_logits

    def heldout_loss():
        model.eval()
        total = 0.0
        with torch.no_grad(), torch.autocast(**amp):
            for i in range(0, eval_n, 8):
                x = eval_x[i:i + 8]
                logits = model(input_ids=x, use_cache=False).logits.float()
                total += float(torch.nn.functional.cross_entropy(
                    logits[:, :-1].reshape(-1, args.vocab), x[:, 1:].reshape(-1), reduction="sum"))
        model.train()
        return total / (eval_n * (args.seq - 1))

    s["experts_implementation"] = pick_experts_implementation(model, batch_fn, step_fn, log)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=device == "cuda")

    t_start = time.time()
    budget = args.minutes * 60
    if args.deadline:
        budget = min(budget, args.deadline - args.reserve - t_start)
    if budget <= 0:
        raise SystemExit(f"no time left to train (deadline in {args.deadline - t_start:.0f} s, reserve {args.reserve} s)")
    log(f"training for {budget:.0f} s: batch {args.batch} x {args.seq} tokens, lr {args.lr}, "
        f"aux coefficient {args.aux_coef}, experts kernel {s['experts_implementation']}")
    s["status"] = "training"
    s["evals"] = []
    best, best_step, step, train_time, tokens_seen = float("inf"), -1, 0, 0.0, 0
    last_log_t, last_log_tokens, last_eval_t = time.time(), 0, time.time()
    while True:
        progress = train_time / budget
        if progress >= 1.0 or (args.deadline and time.time() > args.deadline - args.reserve):
            break
        warm = args.warmup
        lr_scale = progress / warm if progress < warm else \
            args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * (progress - warm) / (1 - warm)))
        for g in opt.param_groups:
            g["lr"] = args.lr * lr_scale
        t = time.time()
        ce, aux, router_logits = step_fn(batch_fn(), backward=True)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        tokens_seen += args.batch * args.seq
        if step % 20 == 0 or step == 1:
            ce_v, aux_v = float(ce), float(aux)  # synchronises
            now = time.time()
            rate = (tokens_seen - last_log_tokens) / max(now - last_log_t, 1e-9)
            last_log_t, last_log_tokens = now, tokens_seen
            log(f"step {step} loss {ce_v:.4f} aux {aux_v:.3f} lr {args.lr * lr_scale:.2e} {rate:,.0f} tok/s "
                f"epochs {tokens_seen / len(train_ids):.2f}")
            if not math.isfinite(ce_v):
                raise SystemExit(f"loss is {ce_v} at step {step}")
        else:
            if device == "cuda":
                torch.cuda.synchronize()
        train_time += time.time() - t
        if step % args.eval_every == 0 or train_time >= budget or time.time() - last_eval_t > 60:
            h = heldout_loss()
            loads = router_balance(router_logits, cfg.num_experts_per_tok, cfg.num_experts)
            entry = {"step": step, "train_seconds": round(train_time, 1), "tokens": tokens_seen,
                     "train_loss": round(float(ce), 4), "heldout_loss": round(h, 4), "router_max_min": [
                         [max(l), min(l)] for l in loads]}
            s["evals"].append(entry)
            log(f"eval step {step}: held-out loss {h:.4f} (ppl {math.exp(h):.2f}); router load max/min per layer "
                f"{balance_line(loads)}")
            if h < best:
                best, best_step = h, step
                save_sharded(model, args.out, log)
                log(f"saved best weights (step {step})")
            s.update(best_heldout_loss=round(best, 4), best_step=best_step, steps=step,
                     train_seconds=round(train_time, 1), tokens_seen=tokens_seen)
            log.save()
            last_eval_t = time.time()
    log(f"training done: {step} steps, {tokens_seen:,} tokens ({tokens_seen / len(train_ids):.2f} epochs) "
        f"in {train_time:.0f} s; best held-out loss {best:.4f} at step {best_step}")
    s["status"] = "trained"
    log.save()

    # Perplexity of the saved weights (bf16 on disk) computed in float32, as the converted GGUF will be.
    del model, opt
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    from transformers.models.qwen3_5_moe import Qwen3_5MoeForCausalLM
    saved = Qwen3_5MoeForCausalLM.from_pretrained(args.out, dtype=torch.float32).to(device).eval()
    set_experts_implementation(saved, "eager")
    ppl, n_chunk, n_scored = llama_perplexity(saved, heldout_ids, args.ppl_ctx, 16, device)
    print(f"PPL = {ppl:.4f}", flush=True)
    log(f"held-out perplexity (llama.cpp chunking, n_ctx {args.ppl_ctx}, {n_chunk} chunks, {n_scored} tokens "
        f"scored, float32): PPL = {ppl:.4f}")
    s["perplexity"] = {"ppl": ppl, "n_ctx": args.ppl_ctx, "chunks": n_chunk, "scored_tokens": n_scored,
                       "text": "heldout.txt (Persuasion)", "dtype": "float32 on the saved bf16 weights"}
    try:
        with torch.no_grad():
            x = torch.tensor(heldout_ids[:8 * args.ppl_ctx], device=device).view(-1, args.ppl_ctx)
            out = saved(input_ids=x, use_cache=False, output_router_logits=True)
        loads = router_balance(out.router_logits, cfg.num_experts_per_tok, cfg.num_experts)
        s["heldout_router_load"] = loads
        log(f"held-out router load max/min per layer: {balance_line(loads)}")
    except Exception as e:
        log(f"WARNING router load on held-out text failed: {e!r}")
    log.save()

    s["samples"] = []
    for prompt in args.prompt:
        for mode in ("greedy", "sampled"):
            try:
                torch.manual_seed(args.seed)
                x = torch.tensor([tok.encode(prompt, add_special_tokens=False).ids], device=device)
                kw = dict(do_sample=False) if mode == "greedy" else dict(do_sample=True, temperature=0.8, top_p=0.95,
                                                                         top_k=0)
                with torch.no_grad():
                    y = saved.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=args.sample_tokens,
                                       eos_token_id=eos, pad_token_id=eos, **kw)
                text = tok.decode(y[0, x.shape[1]:].tolist(), skip_special_tokens=False)
                s["samples"].append({"prompt": prompt, "mode": mode, "text": text})
                log(f"sample ({mode}) {prompt!r} -> {text!r}")
            except Exception as e:
                log(f"WARNING {mode} sample failed: {e!r}")
    s["status"] = "done"
    s["files"] = sorted(os.listdir(args.out))
    if len(s["files"]) + ("train_summary.json" not in s["files"]) > 8:
        log("WARNING more than 8 output files: the GPU machine returns only 8")
    log(f"output files ({len(s['files']) + (0 if 'train_summary.json' in s['files'] else 1)}): {s['files']}")
    log.save()


if __name__ == "__main__":
    main()
