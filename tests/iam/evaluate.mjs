// Reads a JSON list of simulations (iam-simulate's Simulation shape) on stdin; prints, in order, each
// request's decision as iam-simulate's analysis gives it (Allowed, ImplicitlyDenied, ExplicitlyDenied),
// or the simulator's validation errors, so a policy the evaluator cannot read fails the test.
import { runSimulation } from '@cloud-copilot/iam-simulate'

let input = ''
for await (const chunk of process.stdin) input += chunk
const decisions = []
for (const simulation of JSON.parse(input)) {
  const outcome = await runSimulation(simulation, {})
  if (outcome.resultType !== 'single') {
    decisions.push({ error: outcome })
  } else {
    decisions.push({ decision: outcome.result.analysis.result })
  }
}
console.log(JSON.stringify(decisions))
