/**
 * Splits a command string into words as compose does for `command:` and `entrypoint:` strings
 * (POSIX shell quoting, no expansion): blanks separate words, '...' is literal, "..." keeps
 * backslash escapes of \\ \" \$ and \`, a backslash outside quotes escapes the next character.
 * Undefined when a quote is not closed.
 */
export function shellWords(text: string): string[] | undefined {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return undefined;
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      const end = doubleQuoted(text, i + 1);
      if (end === undefined) return undefined;
      word += end.value;
      inWord = true;
      i = end.end;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

function doubleQuoted(text: string, from: number): { value: string; end: number } | undefined {
  let value = '';
  for (let j = from; j < text.length; j++) {
    const c = text[j] as string;
    if (c === '"') return { value, end: j };
    if (c === '\\' && j + 1 < text.length && '\\"$`'.includes(text[j + 1] as string)) value += text[++j];
    else value += c;
  }
  return undefined;
}
