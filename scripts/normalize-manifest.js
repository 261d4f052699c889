#!/usr/bin/env node
// `oclif manifest` writes a version-stamped JSON with machine-specific ordering; keep it stable so
// the committed manifest can be compared with a fresh one by a test.
import {readFileSync, writeFileSync} from 'node:fs'

const path = new URL('../oclif.manifest.json', import.meta.url)
const manifest = JSON.parse(readFileSync(path, 'utf8'))
const sorted = Object.fromEntries(Object.keys(manifest.commands).sort().map((k) => [k, manifest.commands[k]]))
writeFileSync(path, JSON.stringify({commands: sorted, version: manifest.version}, null, 2) + '\n')
