import type {Action} from '../model/resources.js'

/** One table drives how every action looks: glyph, colour, plan verb, progress verbs. */
export const ACTION_STYLE: Record<Action, {glyph: string; color: 'green' | 'yellow' | 'red' | 'cyan' | 'dim'; plan: string; doing: string; done: string}> = {
  create: {glyph: '+', color: 'green', plan: 'will be created', doing: 'creating', done: 'created'},
  update: {glyph: '~', color: 'yellow', plan: 'will be updated in place', doing: 'updating', done: 'updated'},
  replace: {glyph: '-/+', color: 'yellow', plan: 'must be replaced', doing: 'replacing', done: 'replaced'},
  delete: {glyph: '-', color: 'red', plan: 'will be destroyed', doing: 'destroying', done: 'destroyed'},
  read: {glyph: '<=', color: 'cyan', plan: 'will be read', doing: 'reading', done: 'read'},
  'no-op': {glyph: ' ', color: 'dim', plan: 'is up to date', doing: 'checking', done: 'unchanged'},
}

const CODES = {green: 32, yellow: 33, red: 31, cyan: 36, dim: 2, bold: 1} as const

export function paint(text: string, color: keyof typeof CODES, enabled: boolean): string {
  return enabled ? `\u001B[${CODES[color]}m${text}\u001B[0m` : text
}

/** Colour only for a human on a terminal: never in CI, pipes, TERM=dumb or with NO_COLOR. */
export function useColor(stream: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(stream.isTTY) && !env.CI && env.TERM !== 'dumb' && env.NO_COLOR === undefined
}

/** A plain (no spinners) session: no TTY, CI=true, or TERM=dumb. */
export function isPlainSession(stream: NodeJS.WriteStream = process.stderr, env: NodeJS.ProcessEnv = process.env): boolean {
  return !stream.isTTY || Boolean(env.CI) || env.TERM === 'dumb'
}
