import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {SourceMissingError, copyTree} from '../../../src/providers/local/tree-sync.js'

describe('local provider: tree sync (rclone copy / sync semantics)', () => {
  let dir: string
  let src: string
  let dst: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'anycloud-tree-'))
    src = join(dir, 'src')
    dst = join(dir, 'dst')
    await mkdir(join(src, 'a', 'b'), {recursive: true})
    await writeFile(join(src, 'top.txt'), 'top')
    await writeFile(join(src, 'a', 'b', 'deep.txt'), 'deep')
  })
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('copies new files, skips unchanged ones, catches a same-size rewrite, never deletes', async () => {
    await mkdir(dst)
    await writeFile(join(dst, 'other-job.txt'), 'keep')
    assert.equal((await copyTree(src, dst)).copied, 2)
    assert.equal(await readFile(join(dst, 'a', 'b', 'deep.txt'), 'utf8'), 'deep')
    assert.equal((await copyTree(src, dst)).copied, 0, 'unchanged files are skipped')
    await writeFile(join(src, 'top.txt'), 'TOP') // same size, new mtime
    const later = new Date(Date.now() + 5)
    await utimes(join(src, 'top.txt'), later, later)
    assert.equal((await copyTree(src, dst)).copied, 1)
    assert.equal(await readFile(join(dst, 'top.txt'), 'utf8'), 'TOP')
    await rm(join(src, 'top.txt'))
    await copyTree(src, dst)
    assert.ok(existsSync(join(dst, 'top.txt')), 'copy never deletes in the destination')
    assert.ok(existsSync(join(dst, 'other-job.txt')))
    assert.ok(!(await readdir(dst)).some((n) => n.startsWith('.anycloud-partial-')), 'no temp file left')
  })

  it('mirrors (sync): removes what the source does not have', async () => {
    await mkdir(join(dst, 'stale-dir'), {recursive: true})
    await writeFile(join(dst, 'stale-dir', 'x'), 'x')
    await writeFile(join(dst, 'stale.txt'), 'x')
    const r = await copyTree(src, dst, {mirror: true})
    assert.equal(r.copied, 2)
    assert.deepEqual((await readdir(dst, {recursive: true})).sort(), ['a', join('a', 'b'), join('a', 'b', 'deep.txt'), 'top.txt'])
  })

  it('skips symlinks and leftover partial files; a missing source is a typed error', async () => {
    await symlink('/etc/passwd', join(src, 'link'))
    await writeFile(join(src, '.anycloud-partial-top.txt.abcd'), 'half')
    await copyTree(src, dst)
    assert.deepEqual((await readdir(dst)).sort(), ['a', 'top.txt'])
    await assert.rejects(copyTree(join(dir, 'nope'), dst), SourceMissingError)
    assert.ok(Math.abs((await stat(join(dst, 'top.txt'))).mtimeMs - (await stat(join(src, 'top.txt'))).mtimeMs) < 1, 'the copy carries the mtime')
  })
})
