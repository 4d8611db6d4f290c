/**
 * RUNBOOK.md and the packaged alarms stay in step: every CloudWatch alarm of both stages ends its
 * description with a link to a runbook section that exists, names the alarm and says what it
 * means, where to look first, the fix and how to confirm it; no alarm section is left unlinked.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { packaged, projectRoot } from './helpers/package-service.ts'
import { resourcesOfType } from './helpers/template.ts'

const RUNBOOK = readFileSync(join(projectRoot, 'RUNBOOK.md'), 'utf8')

/** The four parts every alarm section has, in this order. */
const PARTS = ['**What it means.**', '**First look.**', '**Fix.**', '**How to confirm.**']

const RUNBOOK_LINK = / - Runbook: RUNBOOK\.md#([a-z0-9-]+)$/

/** GitHub's heading anchor: lower case, punctuation other than hyphens dropped, spaces to hyphens. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')
}

interface Section {
  anchor: string
  body: string
}

/** Headings of every level, with the text up to the next heading. */
function sectionsOf(markdown: string): Array<Section & { level: number; title: string }> {
  const sections: Array<Section & { level: number; title: string }> = []
  for (const block of markdown.split(/^(?=#{1,6} )/m)) {
    const match = /^(#{1,6}) (.+)\n([\s\S]*)$/.exec(block)
    if (match?.[1] && match[2] !== undefined && match[3] !== undefined)
      sections.push({ level: match[1].length, title: match[2], anchor: anchorOf(match[2]), body: match[3] })
  }
  return sections
}

const sections = sectionsOf(RUNBOOK)
const anchors = new Set(sections.map((section) => section.anchor))
const alarmsStart = sections.findIndex((section) => section.level === 2 && section.title === 'Alarms')
const alarmsEnd = sections.findIndex((section, i) => i > alarmsStart && section.level === 2)
const alarmSections = sections.slice(alarmsStart + 1, alarmsEnd === -1 ? undefined : alarmsEnd)

describe('RUNBOOK.md', () => {
  it('has an Alarms part with one section per kind of alarm', () => {
    expect(alarmsStart).toBeGreaterThanOrEqual(0)
    expect(alarmSections.length).toBeGreaterThan(10)
    expect(alarmSections.every((section) => section.level === 3)).toBe(true)
  })

  it.each(alarmSections.map((section) => [section.anchor, section]))(
    'section %s says what it means, where to look first, the fix and how to confirm',
    (_anchor, section) => {
      const positions = PARTS.map((part) => section.body.indexOf(part))
      expect(positions.every((position) => position >= 0)).toBe(true)
      expect([...positions].sort((a, b) => a - b)).toEqual(positions)
      expect(section.body).toMatch(/^Alarms: `[A-Za-z0-9]+`/m)
    },
  )

  it('has the procedures: watermark reset, quarantine replay, redrive, window rerun', () => {
    for (const anchor of ['watermark-reset', 'quarantine-replay', 'redrive', 'window-rerun'])
      expect(anchors.has(anchor), anchor).toBe(true)
  })

  it('links only to sections that exist', () => {
    const targets = [...RUNBOOK.matchAll(/\]\(#([a-z0-9-]+)\)/g)].map((match) => match[1])
    expect(targets.length).toBeGreaterThan(0)
    expect(targets.filter((target) => !anchors.has(target ?? ''))).toEqual([])
  })
})

describe.each(['dev', 'prod'] as const)('alarms of the packaged %s stage', (stage) => {
  it('each link to a runbook section that names them, and every alarm section is linked', async () => {
    const { template } = await packaged(stage)
    const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm')
    expect(alarms.length).toBeGreaterThan(20)
    const problems: string[] = []
    const linked = new Set<string>()
    for (const [id, alarm] of alarms) {
      const description = alarm.Properties?.AlarmDescription
      const anchor = typeof description === 'string' ? RUNBOOK_LINK.exec(description)?.[1] : undefined
      if (!anchor) {
        // Say which section to link when the runbook already has one naming the alarm.
        const named = alarmSections.find((section) => section.body.includes(`\`${id}\``))
        problems.push(
          `${id}: description does not end with " - Runbook: RUNBOOK.md#${named?.anchor ?? '<section>'}"${named ? '' : ' (and RUNBOOK.md has no section naming it)'}`,
        )
        continue
      }
      linked.add(anchor)
      const section = alarmSections.find((candidate) => candidate.anchor === anchor)
      if (!section) problems.push(`${id}: no alarm section #${anchor} in RUNBOOK.md`)
      else if (!section.body.includes(`\`${id}\``))
        problems.push(`${id}: section #${anchor} does not name it`)
      if (typeof description === 'string' && description.length > 1024)
        problems.push(`${id}: description longer than CloudWatch's 1024 characters`)
    }
    expect(problems).toEqual([])
    expect(alarmSections.map((section) => section.anchor).filter((anchor) => !linked.has(anchor))).toEqual([])
  })
})
