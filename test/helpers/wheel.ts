import { execFileSync } from 'node:child_process';

/** A pure-Python wheel made by hand (zip + METADATA + RECORD with its hashes), with a console script. */
const MAKE_WHEEL = `
import base64, hashlib, os, sys, zipfile
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
info = 'tinydep-1.0.dist-info'
files = {
  'tinydep/__init__.py': 'VALUE = 42\\ndef main():\\n    print("hello from tinydep", VALUE)\\n',
  info + '/METADATA': 'Metadata-Version: 2.1\\nName: tinydep\\nVersion: 1.0\\n',
  info + '/WHEEL': 'Wheel-Version: 1.0\\nGenerator: berth-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n',
  info + '/entry_points.txt': '[console_scripts]\\ntinydep-hello = tinydep:main\\n',
}
record = []
with zipfile.ZipFile(os.path.join(out, 'tinydep-1.0-py3-none-any.whl'), 'w') as z:
  for name, text in files.items():
    data = text.encode()
    z.writestr(name, data)
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
    record.append(f'{name},sha256={digest},{len(data)}')
  record.append(info + '/RECORD,,')
  z.writestr(info + '/RECORD', '\\n'.join(record) + '\\n')
`;

/**
 * Writes tinydep-1.0-py3-none-any.whl into `dir`: `import tinydep` gives VALUE = 42, and the
 * console script `tinydep-hello` prints "hello from tinydep 42". pip installs it with
 * PIP_NO_INDEX=1 and PIP_FIND_LINKS=<dir>: PyPI is not reachable from the tests.
 */
export function makeWheel(dir: string): void {
  execFileSync('python3', ['-c', MAKE_WHEEL, dir]);
}
