/** The exit-code table of SPEC §3: the same for every command. */
export const ExitCode = {
  Ok: 0,
  Failed: 1,
  ChangesPending: 2,
  Invalid: 3,
  Locked: 4,
  StalePlan: 5,
  Interrupted: 130,
} as const

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]
