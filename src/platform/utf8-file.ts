// Input files (grade-batch class sets, catalogs) are read strictly: readFile(file, 'utf8')
// replaced every byte that is not UTF-8 with U+FFFD, so a file saved as Windows-1252 or
// Latin-1 (Excel's plain "CSV" on Windows) had its accented text silently mangled ("caf\uFFFD"),
// then graded and billed, or published, as written. UTF-16 (Excel's "Unicode text") failed
// later with a misleading message. The file is refused instead, naming the first line that
// is not UTF-8. A UTF-8 byte-order mark is dropped (TextDecoder does).
export function decodeUtf8(file: string, bytes: Buffer): string {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw new Error(`${file}: the file is UTF-16; save it as UTF-8 (in Excel: "CSV UTF-8")`);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const line = bytes.subarray(0, firstInvalidUtf8(bytes)).toString('latin1').split('\n').length;
    throw new Error(`${file}:${line}: the file is not UTF-8; save it as UTF-8 (in Excel: "CSV UTF-8")`);
  }
}

// The length of the longest prefix that is valid UTF-8 so far (streaming decode accepts a
// sequence cut at the end), found by bisection: validity of a prefix is monotone.
function firstInvalidUtf8(bytes: Buffer): number {
  const validPrefix = (n: number) => {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, n), { stream: true });
      return true;
    } catch {
      return false;
    }
  };
  let lo = 0;
  let hi = bytes.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (validPrefix(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
