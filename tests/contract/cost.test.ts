/**
 * `make cost` on the packaged stages themselves: every resource of each template is priced by a
 * rule or listed as free (a resource type added without a rule fails here, not on a user's
 * `make cost`), and the estimate stays under the stage's own monthly budget alarm.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { LOAD } from '../../scripts/cost.ts'
import { estimateMonthlyCost, type PriceList } from '../../scripts/cost-model.ts'
import { projectRoot } from './helpers/package-service.ts'
import { EXPECTED, packagedStages, STAGES } from './packaged-stages.ts'

const service = packagedStages()

describe.each(STAGES)('cost estimate of the packaged %s template', (stage) => {
  it('prices every resource and stays under the stage budget', async () => {
    const prices = JSON.parse(
      await readFile(join(projectRoot, 'resources', 'pricing', 'us-east-1.json'), 'utf8'),
    ) as PriceList
    const template = service(stage).template
    // Throws on a resource type that has neither a pricing rule nor a place in the free list.
    const estimate = estimateMonthlyCost(template, prices, LOAD)
    expect(estimate.totalUsd).toBeGreaterThan(0)
    expect(estimate.totalUsd).toBeLessThan(EXPECTED[stage].monthlyBudgetUsd)
  })
})
