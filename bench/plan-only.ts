// The plan section of `npm run bench` alone: `node dist-bench/bench/plan-only.js` after `npm run bench` (or `npx tsc -p tsconfig.bench.json`).
import {benchPlan} from './plan.js'

await benchPlan()
