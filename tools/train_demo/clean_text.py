"""Plain text from the corpus packages' raw output, lightly cleaned for training.

usage: clean_text.py austen FILE | kjv FILE | web FILE | jargon FILE   (cleaned text on stdout)

Wrapped lines are joined into paragraphs, paragraphs are separated by one blank line, verse
numbers and markup are removed, and the text is NFC-normalised with no-break spaces made plain
(so every tokenizer, normalising or not, sees the same characters). Python standard library only.
"""
import re
import sys
import unicodedata

# The 66 books in the order `bible` prints them (its abbreviations are not readable names).
KJV_BOOKS = [b.replace("_", " ") for b in """Genesis Exodus Leviticus Numbers Deuteronomy Joshua Judges Ruth 1_Samuel
2_Samuel 1_Kings 2_Kings 1_Chronicles 2_Chronicles Ezra Nehemiah Esther Job Psalms Proverbs Ecclesiastes
Song_of_Solomon Isaiah Jeremiah Lamentations Ezekiel Daniel Hosea Joel Amos Obadiah Jonah Micah Nahum Habakkuk
Zephaniah Haggai Zechariah Malachi Matthew Mark Luke John Acts Romans 1_Corinthians 2_Corinthians Galatians
Ephesians Philippians Colossians 1_Thessalonians 2_Thessalonians 1_Timothy 2_Timothy Titus Philemon Hebrews James
1_Peter 2_Peter 1_John 2_John 3_John Jude Revelation""".split()]


def paragraphs(lines):
    """Join runs of non-blank lines into one-line paragraphs (leading indentation dropped)."""
    out, cur = [], []
    for line in lines:
        s = line.strip()
        if s:
            cur.append(s)
        elif cur:
            out.append(" ".join(cur))
            cur = []
    if cur:
        out.append(" ".join(cur))
    return out


def austen(text):
    return paragraphs(text.split("\n"))


def kjv(text):
    """`bible -f` output: a banner, the first verse, a prompt line, then `Abbr C:V text` per verse."""
    verse = re.compile(r"^([1-3]?[A-Za-z]+)(\d+):(\d+) (.*)$")
    lines = text.split("\n")
    start = next(i for i, l in enumerate(lines) if l.startswith("bible("))
    out, book_index, last_abbr, last_chapter, cur = [], -1, None, None, []
    for line in lines[start + 1:]:
        if line.startswith("bible("):
            break
        m = verse.match(line)
        if not m:
            raise SystemExit(f"kjv: unexpected line {line[:80]!r} (expected 'Abbr C:V text')")
        abbr, chapter, body = m.group(1), m.group(2), m.group(4).strip()
        if abbr != last_abbr:
            book_index += 1
            last_abbr = abbr
        if (book_index, chapter) != last_chapter:
            if cur:
                out.append("\n".join(cur))
            out.append(f"{KJV_BOOKS[book_index]} {chapter}")
            cur, last_chapter = [], (book_index, chapter)
        cur.append(body)
    if cur:
        out.append("\n".join(cur))
    if book_index + 1 != len(KJV_BOOKS):
        raise SystemExit(f"kjv: found {book_index + 1} books, expected {len(KJV_BOOKS)}")
    return out


def web(text):
    """diatheke's OSIS output: one verse per line after `Book C:V: `, words in <w> elements; the
    paragraph (x-p), line-group and chapter ends become paragraph breaks, poetry line ends line breaks.
    Psalm titles, repeated before every verse of their psalm, are dropped with the rest of the prefix."""
    ref = re.compile(r"(?:^|/>)\s*((?:[1-4] )?[A-Z][^<>:]*?) (\d+):(\d+): ")
    out, last_chapter, body = [], None, []

    def flush():
        joined = "".join(body)
        for para in re.split(r"\n\s*\n", joined):
            lines = [re.sub(r"[ \t]+", " ", l).strip() for l in para.split("\n")]
            lines = [l for l in lines if l]
            if lines:
                out.append("\n".join(lines))
        body.clear()

    for line in text.split("\n"):
        m = ref.search(line)
        if not m:
            continue  # the module name at the end, blank lines
        book, chapter = m.group(1), m.group(2)
        if (book, chapter) != last_chapter:
            flush()
            out.append(f"{book} {chapter}")
            last_chapter = (book, chapter)
        v = line[m.end():]
        v = v.replace("</w><w", "</w> <w")  # adjacent words have no space between their elements
        v = re.sub(r'<(?:div|lb)[^>]*type="x-p"[^>]*/>', "\n\n", v)
        v = re.sub(r"<(?:lg|chapter) eID[^>]*/>", "\n\n", v)
        v = re.sub(r"<l eID[^>]*/>", "\n", v)
        v = re.sub(r"<title[^>]*>.*?</title>", "", v)
        v = re.sub(r"<[^>]*>", "", v)
        body.append(v + " ")
    flush()
    return out


def jargon(text):
    """The Jargon File 4.4.7 as text: the table of contents is skipped (the text starts at the first
    unindented 'Chapter 1.'), {cross-reference} braces are removed, and so are tables."""
    lines = text.split("\n")
    start = next(i for i, l in enumerate(lines) if re.match(r"Chapter\s1\.", l))
    body = "\n".join(lines[start:])
    body = re.sub(r"\{([^{}\n]*)\}", r"\1", body)
    # Tables drawn with box characters make no sense as joined paragraphs: they are dropped.
    return [p for p in paragraphs(body.split("\n")) if not re.search(r"[\u2500-\u257f]", p)]


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("austen", "kjv", "web", "jargon"):
        raise SystemExit(__doc__.strip().split("\n\n")[1])
    kind, path = sys.argv[1:]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    paras = globals()[kind](text.replace("\u00a0", " "))  # no-break spaces (the Jargon File) as spaces
    if not paras:
        raise SystemExit(f"{path}: no text found for {kind}")
    sys.stdout.write(unicodedata.normalize("NFC", "\n\n".join(paras)) + "\n")


if __name__ == "__main__":
    main()
