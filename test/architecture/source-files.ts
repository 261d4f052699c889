import ts from 'typescript'

/** Every .ts file under `dir` (absolute paths), as TypeScript lists them. */
export function tsFiles(dir: string): string[] {
  return ts.sys.readDirectory(dir, ['.ts'])
}
