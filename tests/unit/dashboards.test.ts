/**
 * The saved objects under resources/dashboards/ against the index templates: every field a
 * visualization aggregates on exists in its index's mapping with an aggregatable type, every
 * reference resolves inside the file, and no personal field is ever shown in clear.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { indexTemplates } from '../../functions/shared/search-templates.ts'

interface SavedObject {
  id: string
  type: string
  references: Array<{ name: string; type: string; id: string }>
  attributes: Record<string, unknown>
}

const file = join(import.meta.dirname, '..', '..', 'resources', 'dashboards', 'crypto-lake.ndjson')
const objects = readFileSync(file, 'utf8')
  .split('\n')
  .filter((line) => line.trim())
  .map((line) => JSON.parse(line) as SavedObject)
const templates = indexTemplates(0)
const mappingOf = (indexPattern: string) =>
  (templates as Record<string, { template: { mappings: { properties: Record<string, { type: string }> } } }>)[
    indexPattern
  ]?.template.mappings.properties

describe('dashboard saved objects', () => {
  it('holds the index patterns, the five panels and the dashboard', () => {
    expect(objects.map((o) => `${o.type}:${o.id}`)).toEqual([
      'index-pattern:crypto-bars',
      'index-pattern:crypto-trades',
      'index-pattern:crypto-assets',
      'visualization:crypto-live-price',
      'visualization:crypto-trade-volume-by-side',
      'visualization:crypto-notional-by-symbol',
      'visualization:crypto-top-users',
      'search:crypto-asset-icons',
      'dashboard:crypto-lake-live',
    ])
  })

  it('references only objects of the file', () => {
    const ids = new Set(objects.map((o) => `${o.type}:${o.id}`))
    for (const object of objects) {
      for (const reference of object.references) expect(ids).toContain(`${reference.type}:${reference.id}`)
    }
  })

  it('aggregates only on mapped, aggregatable fields, never on personal data', () => {
    const aggregatable = new Set(['keyword', 'date', 'double', 'long', 'integer'])
    const fields: string[] = []
    for (const object of objects.filter((o) => o.type === 'visualization')) {
      const indexPattern = object.references[0]?.id as string
      const properties = mappingOf(indexPattern)
      const visState = JSON.parse(object.attributes.visState as string) as {
        aggs: Array<{ params: { field?: string } }>
      }
      for (const agg of visState.aggs) {
        const field = agg.params.field
        if (field === undefined) continue
        fields.push(`${indexPattern}.${field}`)
        expect(aggregatable).toContain(properties?.[field]?.type)
      }
    }
    expect(fields).toEqual([
      'crypto-bars.close',
      'crypto-bars.start',
      'crypto-bars.symbol',
      'crypto-trades.notional',
      'crypto-trades.executed_at',
      'crypto-trades.side',
      'crypto-trades.notional',
      'crypto-trades.symbol',
      'crypto-trades.notional',
      'crypto-trades.user_name_token',
      'crypto-trades.user_id',
    ])
    const text = readFileSync(file, 'utf8')
    for (const personal of ['"user_name"', '"user_email"', '"document_id"'])
      expect(text).not.toContain(personal)
  })

  it('uses the time field of each index and shows icons as images', () => {
    const patterns = Object.fromEntries(
      objects.filter((o) => o.type === 'index-pattern').map((o) => [o.id, o.attributes]),
    )
    expect(patterns['crypto-bars']?.timeFieldName).toBe('start')
    expect(patterns['crypto-trades']?.timeFieldName).toBe('executed_at')
    expect(JSON.parse(patterns['crypto-assets']?.fieldFormatMap as string).icon_url.params.type).toBe('img')
  })
})
