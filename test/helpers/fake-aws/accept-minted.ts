import type {FakeAws} from './server.js'

/**
 * S3 accepts session credentials its account's STS issued: from now on every key `fake` mints is
 * accepted by `s3` (an emulator that, as for its own key, does not verify SigV4).
 */
export function acceptMintedKeys(fake: FakeAws, s3: {acceptAccessKey(accessKeyId: string, secretAccessKey: string): void}): void {
  const sessions = fake.state.sessions
  const push = sessions.push.bind(sessions)
  sessions.push = (...items) => {
    for (const i of items) s3.acceptAccessKey(i.accessKeyId, fake.state.credentials.get(i.accessKeyId)?.secretAccessKey ?? '')
    return push(...items)
  }
}
