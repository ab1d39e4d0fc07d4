import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createMetrics } from '#shared/metrics';

const dir = fileURLToPath(new URL('../../infra/prometheus/', import.meta.url));
const rules = readFileSync(`${dir}alerts.yml`, 'utf8');
const run = promisify(execFile);

describe('the alert rules (infra/prometheus/alerts.yml)', () => {
  it('only name metrics hubhook exports', async () => {
    const exported = new Set((await createMetrics({ defaultMetrics: false }).registry.getMetricsAsJSON()).map((m) => m.name));
    // The scrape-time gauges exist only where sources are given (the api); name them too.
    for (const name of ['hubhook_queue_jobs', 'hubhook_queue_paused', 'hubhook_queue_oldest_waiting_seconds', 'hubhook_subscriptions', 'hubhook_metrics_source_up']) {
      exported.add(name);
    }
    const named = new Set([...rules.matchAll(/\bhubhook_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, '')));
    expect(named.size).toBeGreaterThan(5);
    for (const name of named) expect(exported, name).toContain(name);
  });

  it('give every alert a severity and a summary', () => {
    const alerts = rules.split(/\n\s+- alert: /).slice(1);
    expect(alerts.length).toBeGreaterThanOrEqual(8);
    for (const alert of alerts) {
      const name = alert.split('\n')[0];
      expect(alert, name).toMatch(/\n\s+severity: (critical|warning|info)\n/);
      expect(alert, name).toMatch(/\n\s+summary: "/);
    }
  });

  // promtool comes with Debian's `prometheus` package; .ci/run installs it, so CI always runs these.
  describe.runIf(existsSync('/usr/bin/promtool'))('with promtool', () => {
    it('pass `promtool check rules`', async () => {
      const { stdout } = await run('promtool', ['check', 'rules', 'alerts.yml'], { cwd: dir });
      expect(stdout).toMatch(/SUCCESS: \d+ rules found/);
    });

    it('fire (and stay quiet) as their unit tests expect: `promtool test rules`', async () => {
      const { stdout } = await run('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: dir });
      expect(stdout).toContain('SUCCESS');
    });

    it('are loaded by a valid example scrape config', async () => {
      const { stdout } = await run('promtool', ['check', 'config', '--syntax-only', 'prometheus.yml'], { cwd: dir });
      expect(stdout).toContain('SUCCESS');
    });
  });
});
