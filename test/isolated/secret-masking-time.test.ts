import { describe, expect, it } from "vitest";
import { maskSecretsInEvent, maskSecretsInText } from "../../src/core/privacy/secret-masking.ts";

/*
 * The secret detectors run in linear time (issue 19 §4): each hostile input below is masked at two
 * sizes, n and 8n, and the larger must take well under the 64 times a rescanning detector would.
 */

/**
 * Inputs built to make a detector rescan: many anchors with no end, and one anchor before a long
 * run. Each is `n` characters long, give or take one repetition.
 */
const ADVERSARIAL: Record<string, (n: number) => string> = {
  "BEGIN lines without an END": (n) => "-----BEGIN RSA PRIVATE KEY-----".repeat(n / 31),
  "BEGIN lines, END at the very end": (n) =>
    `${"-----BEGIN PRIVATE KEY-----\n".repeat(n / 28)}-----END PRIVATE KEY-----`,
  "END lines only": (n) => "-----END RSA PRIVATE KEY-----\n".repeat(n / 30),
  "one BEGIN, then a body with no END": (n) => `-----BEGIN PRIVATE KEY-----\n${"A".repeat(n)}`,
  "one BEGIN, then lines of body with no END": (n) =>
    `-----BEGIN PRIVATE KEY-----\n${`${"A".repeat(63)}\n`.repeat(n / 64)}`,
  "BEGIN without a closing label": (n) => "-----BEGIN ".repeat(n / 11),
  dashes: (n) => "-".repeat(n),
  "sk- repeated": (n) => "sk-".repeat(n / 3),
  "sk- and a space repeated": (n) => "sk- ".repeat(n / 4),
  "sk-ant- then one long token": (n) => `sk-ant-${"a".repeat(n)}`,
  "sk- keys back to back": (n) => `sk-${"a1".repeat(20)} `.repeat(n / 44),
  "gh repeated": (n) => "gh".repeat(n / 2),
  "ghp_ repeated": (n) => "ghp_".repeat(n / 4),
  "github_pat_ repeated": (n) => "github_pat_".repeat(n / 11),
  "AKIA repeated": (n) => "AKIA".repeat(n / 4),
  "AKIA then capitals": (n) => `AKIA${"A".repeat(n)}`,
  "Bearer repeated": (n) => "Bearer ".repeat(n / 7),
  "bearer and a tab repeated": (n) => "bearer\t".repeat(n / 7),
  "Bearer then one long token": (n) => `Bearer ${"aB".repeat(n / 2)}`,
  "Bearer then spaces": (n) => `Bearer${" ".repeat(n)}x`,
  "secret_access_key= repeated": (n) => "secret_access_key=".repeat(n / 18),
  "aws secret label then base64": (n) => `aws_secret_access_key = ${"A".repeat(n)}`,
  "postgres:// repeated with no @": (n) => "postgres://".repeat(n / 11),
  ":// repeated": (n) => "://".repeat(n / 3),
  "scheme-like run before ://": (n) => `${"a".repeat(n)}://u:p@h`,
  "a password with no @": (n) => `postgres://user:${"p".repeat(n)}`,
  "@ after ://": (n) => `x://${"@".repeat(n)}`,
  "colons and @ after ://": (n) => `x://a${":@".repeat(n / 2)}`,
  ";password= repeated": (n) => ";password=".repeat(n / 10),
  "open quotes after ;pwd=": (n) => ";pwd='".repeat(n / 6),
  "quoted passwords on one line": (n) => `;password="a"`.repeat(n / 14),
  "one long password value": (n) => `;pwd=${"x".repeat(n)}`,
  "every anchor, repeated": (n) =>
    "sk-ant- ghp_ github_pat_ AKIA Bearer secret_access_key= -----BEGIN PRIVATE KEY----- -----END x:// ;pwd= @ ".repeat(
      n / 104,
    ),
  spaces: (n) => `a${" ".repeat(n)}a`,
  "CJK text": (n) => "字".repeat(n),
};

/**
 * This process's CPU time in ms. A ratio of CPU times, not of wall-clock times: on a machine shared
 * with other test workers, a descheduled moment would count against whichever size it fell on.
 */
const cpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** CPU time of `times` calls of `work`. */
const batchMs = (work: () => unknown, times: number): number => {
  const started = cpuMs();
  for (let i = 0; i < times; i++) work();
  return cpuMs() - started;
};

/**
 * How much longer `large` takes than `small`, by the fastest of 5 interleaved batches of each. Each
 * batch makes enough calls that the small one takes a few ms, so the clock's grain does not count,
 * and both sizes run warm. The fastest, not the median: a collection or a neighbour's burst only
 * ever adds time, and a median of five still let one land on the large side (17.8× in a CI run).
 */
const growth = (small: () => unknown, large: () => unknown): number => {
  for (let i = 0; i < 3; i++) {
    small();
    large();
  }
  let times = 1;
  while (Math.min(batchMs(small, times), batchMs(small, times)) < 2 && times < 1 << 16) times *= 2;
  const smallMs: number[] = [];
  const largeMs: number[] = [];
  for (let run = 0; run < 5; run++) {
    smallMs.push(batchMs(small, times));
    largeMs.push(batchMs(large, times));
  }
  return Math.min(...largeMs) / Math.min(...smallMs);
};

describe("masking runs in linear time", () => {
  const n = 20_000;

  it.each(Object.keys(ADVERSARIAL))("on %s: 8 times the text takes well under 64 times as long", (name) => {
    const build = ADVERSARIAL[name] as (n: number) => string;
    const small = build(n);
    const large = build(8 * n);
    // Linear is 8; a detector that rescans would be near 64. The bound leaves room for the
    // collector on the inputs that allocate most (13,000 spans at 8n for the `;pwd='` text).
    expect(
      growth(
        () => maskSecretsInText(small),
        () => maskSecretsInText(large),
      ),
    ).toBeLessThan(16);
  });

  it("on an event of many small strings holding secrets", () => {
    const event = (parts: number) => ({
      type: "message",
      role: "user",
      content: Array.from({ length: parts }, (_, i) => ({ type: "text", text: `part ${i}: ghp_${"a1B2".repeat(9)}` })),
    });
    const small = event(1_000);
    const large = event(8_000);
    expect(maskSecretsInEvent(large).masked).toHaveLength(8_000);
    expect(
      growth(
        () => maskSecretsInEvent(small),
        () => maskSecretsInEvent(large),
      ),
    ).toBeLessThan(16);
  });
});
