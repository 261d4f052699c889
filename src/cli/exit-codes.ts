// The table lives in errors/ (config and errors need it; they may not import cli/). Kept for imports from commands.
export {ExitCode} from '../errors/exit-codes.js'
