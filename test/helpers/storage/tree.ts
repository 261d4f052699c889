/**
 * Small file-tree helpers for rig tests (e.g. an rclone round trip): make a temp directory,
 * write a tree into it, read a tree back, and remove everything made.
 */
import {mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';

/** Relative POSIX path → file contents. */
export type Tree = Record<string, string>;

/** Temp directories made by {@link TempDirs.make}, removed together by `cleanup()`. */
export class TempDirs {
  private dirs: string[] = [];

  /** Creates a fresh directory under the OS temp dir. */
  async make(prefix = 'anycloud-test-'): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  /** Removes every directory made so far (call from `after`/`afterEach`). */
  async cleanup(): Promise<void> {
    const dirs = this.dirs;
    this.dirs = [];
    await Promise.all(dirs.map((d) => rm(d, {recursive: true, force: true})));
  }
}

/** Writes `tree` below `root`, creating directories as needed. */
export async function writeTree(root: string, tree: Tree): Promise<void> {
  for (const [rel, content] of Object.entries(tree)) {
    const file = join(root, ...rel.split('/'));
    await mkdir(dirname(file), {recursive: true});
    await writeFile(file, content);
  }
}

/** Reads every regular file below `root` into a {@link Tree} (keys sorted). */
export async function readTree(root: string): Promise<Tree> {
  const entries = await readdir(root, {recursive: true, withFileTypes: true});
  const out: Tree = {};
  const files = entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath ?? (e as unknown as {path: string}).path, e.name))
    .sort();
  for (const file of files) {
    out[file.slice(root.length + 1).split('\\').join('/')] = await readFile(file, 'utf8');
  }
  return out;
}

/** A small tree with nesting, an empty file and a non-ASCII name. */
export const SAMPLE_TREE: Tree = {
  'a.txt': 'alpha\n',
  'empty.txt': '',
  'sub/b.txt': 'bravo\n'.repeat(100),
  'sub/deeper/c.json': '{"c": 3}\n',
  'sub/ünï code.txt': 'unicode name\n',
};
