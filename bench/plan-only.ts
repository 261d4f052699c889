// `node --import tsx bench/plan-only.ts`: the plan section of `npm run bench` alone.
import {benchPlan} from './plan.js'

await benchPlan()
