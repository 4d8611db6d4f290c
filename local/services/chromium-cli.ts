/**
 * `make browser` (part of `make integration`): finds the system Chromium the dashboard's browser
 * test drives, installing Debian's `chromium` package when it is missing, and says which.
 */
import { ensureChromium } from './toolchain.ts'

try {
  await ensureChromium((line) => process.stderr.write(`[setup] ${line}\n`))
} catch (error) {
  process.stderr.write(`[setup] ${(error as Error).message}\n`)
  process.exitCode = 1
}
