import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type MaskedSpan,
  maskPlaceholder,
  maskSecretsInEvent,
  maskSecretsInText,
  SECRET_KINDS,
  type SecretKind,
  STRUCTURAL_EVENT_FIELDS,
} from "../../src/core/privacy/secret-masking.ts";
import { seeded } from "../support/seeded.ts";

/*
 * Every secret here is drawn at run time from a seeded generator, so the repository holds no
 * literal that a secret scanner (or a reader) could take for a live credential.
 */
const random = seeded(0x5ec12e7);
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const UPPER = LOWER.toUpperCase();
const DIGITS = "0123456789";
const ALNUM = UPPER + LOWER + DIGITS;
const TOKEN = `${ALNUM}-_`;
const draw = (alphabet: string, length: number): string =>
  Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join("");

const pem = (label: string, lines: number, headers = ""): string =>
  [
    `-----BEGIN ${label}-----`,
    ...(headers ? [headers, ""] : []),
    ...Array.from({ length: lines }, () => draw(`${ALNUM}+/`, 64)),
    `${draw(`${ALNUM}+/`, 20)}==`,
    `-----END ${label}-----`,
  ].join("\n");

const SECRET = {
  openaiLegacy: `sk-${draw(ALNUM, 20)}T3BlbkFJ${draw(ALNUM, 20)}`,
  openaiProject: `sk-proj-${draw(TOKEN, 74)}T3BlbkFJ${draw(TOKEN, 74)}`,
  openaiServiceAccount: `sk-svcacct-${draw(TOKEN, 60)}T3BlbkFJ${draw(TOKEN, 60)}`,
  openRouter: `sk-or-v1-${draw(`${DIGITS}abcdef`, 64)}`,
  anthropic: `sk-ant-api03-${draw(TOKEN, 93)}AA`,
  anthropicAdmin: `sk-ant-admin01-${draw(TOKEN, 93)}AA`,
  awsKeyId: `AKIA${draw(UPPER + DIGITS, 16)}`,
  awsSessionKeyId: `ASIA${draw(UPPER + DIGITS, 16)}`,
  awsSecret: draw(`${ALNUM}+/`, 40),
  githubClassic: `ghp_${draw(ALNUM, 36)}`,
  githubOauth: `gho_${draw(ALNUM, 36)}`,
  githubServer: `ghs_${draw(ALNUM, 36)}`,
  githubFineGrained: `github_pat_${draw(ALNUM, 22)}_${draw(ALNUM, 59)}`,
  jwt: `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${draw(TOKEN, 80)}.${draw(TOKEN, 43)}`,
  opaqueToken: draw(ALNUM, 40),
  rsaKey: pem("RSA PRIVATE KEY", 12),
  pkcs8Key: pem("PRIVATE KEY", 8),
  opensshKey: pem("OPENSSH PRIVATE KEY", 6),
  encryptedKey: pem(
    "RSA PRIVATE KEY",
    6,
    "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0A1B2C3D4E5F60718293A4B5C6D7E8F9",
  ),
  pgpKey: pem("PGP PRIVATE KEY BLOCK", 6),
  password: `${draw(ALNUM, 10)}!$%^*~`,
};

/** Each format in the kind of text it turns up in: the text, the secret in it, and what it is. */
const CASES: { name: string; text: string; secret: string; kind: SecretKind }[] = [
  {
    name: "legacy OpenAI key in prose",
    text: `My key is ${SECRET.openaiLegacy}, can you check it?`,
    secret: SECRET.openaiLegacy,
    kind: "openai_key",
  },
  {
    name: "OpenAI project key in an env file",
    text: `OPENAI_API_KEY=${SECRET.openaiProject}\nDEBUG=1`,
    secret: SECRET.openaiProject,
    kind: "openai_key",
  },
  {
    name: "OpenAI service account key in JSON",
    text: `{"apiKey":"${SECRET.openaiServiceAccount}"}`,
    secret: SECRET.openaiServiceAccount,
    kind: "openai_key",
  },
  {
    name: "OpenAI-compatible key in code",
    text: `const client = new OpenAI({ apiKey: '${SECRET.openRouter}' });`,
    secret: SECRET.openRouter,
    kind: "openai_key",
  },
  {
    name: "Anthropic key in a shell export",
    text: `export ANTHROPIC_API_KEY="${SECRET.anthropic}"`,
    secret: SECRET.anthropic,
    kind: "anthropic_key",
  },
  {
    name: "Anthropic admin key in a header",
    text: `x-api-key: ${SECRET.anthropicAdmin}`,
    secret: SECRET.anthropicAdmin,
    kind: "anthropic_key",
  },
  {
    name: "AWS access key id in a credentials file",
    text: `[default]\naws_access_key_id = ${SECRET.awsKeyId}\nregion = eu-west-1`,
    secret: SECRET.awsKeyId,
    kind: "aws_access_key",
  },
  {
    name: "AWS temporary key id in JSON",
    text: `{"AccessKeyId": "${SECRET.awsSessionKeyId}", "Expiration": "2030-01-01"}`,
    secret: SECRET.awsSessionKeyId,
    kind: "aws_access_key",
  },
  {
    name: "labelled AWS secret key in a credentials file",
    text: `aws_secret_access_key = ${SECRET.awsSecret}\n`,
    secret: SECRET.awsSecret,
    kind: "aws_secret_access_key",
  },
  {
    name: "labelled AWS secret key in STS JSON",
    text: `{"SecretAccessKey": "${SECRET.awsSecret}", "SessionToken": "x"}`,
    secret: SECRET.awsSecret,
    kind: "aws_secret_access_key",
  },
  {
    name: "labelled AWS secret key in an env line",
    text: `AWS_SECRET_ACCESS_KEY=${SECRET.awsSecret}`,
    secret: SECRET.awsSecret,
    kind: "aws_secret_access_key",
  },
  {
    name: "GitHub classic token in a git remote",
    text: `git remote set-url origin https://${SECRET.githubClassic}@github.com/org/repo.git`,
    secret: SECRET.githubClassic,
    kind: "github_token",
  },
  {
    name: "GitHub OAuth token in prose",
    text: `the token (${SECRET.githubOauth}) expired`,
    secret: SECRET.githubOauth,
    kind: "github_token",
  },
  {
    name: "GitHub app token in YAML",
    text: `token: ${SECRET.githubServer}`,
    secret: SECRET.githubServer,
    kind: "github_token",
  },
  {
    name: "GitHub fine-grained token",
    text: `GH_TOKEN=${SECRET.githubFineGrained}`,
    secret: SECRET.githubFineGrained,
    kind: "github_token",
  },
  {
    name: "JWT bearer token in a header",
    text: `Authorization: Bearer ${SECRET.jwt}`,
    secret: SECRET.jwt,
    kind: "bearer_token",
  },
  {
    name: "opaque bearer token in a curl command",
    text: `curl -H "authorization: bearer ${SECRET.opaqueToken}" https://api.example.com`,
    secret: SECRET.opaqueToken,
    kind: "bearer_token",
  },
  {
    name: "RSA private key",
    text: `Here is the key:\n${SECRET.rsaKey}\nThanks!`,
    secret: SECRET.rsaKey,
    kind: "private_key",
  },
  { name: "PKCS#8 private key", text: SECRET.pkcs8Key, secret: SECRET.pkcs8Key, kind: "private_key" },
  {
    name: "OpenSSH private key",
    text: `cat ~/.ssh/id_ed25519\n${SECRET.opensshKey}\n$ `,
    secret: SECRET.opensshKey,
    kind: "private_key",
  },
  {
    name: "encrypted PEM with headers",
    text: `${SECRET.encryptedKey}\n`,
    secret: SECRET.encryptedKey,
    kind: "private_key",
  },
  { name: "PGP private key block", text: `> ${SECRET.pgpKey}`, secret: SECRET.pgpKey, kind: "private_key" },
  {
    name: "PostgreSQL URL",
    text: `DATABASE_URL=postgres://app:${SECRET.password}@db.internal:5432/prod?sslmode=require`,
    secret: SECRET.password,
    kind: "connection_string_password",
  },
  {
    name: "MySQL URL in JDBC",
    text: `jdbc:mysql://root:${SECRET.password}@localhost:3306/shop`,
    secret: SECRET.password,
    kind: "connection_string_password",
  },
  {
    name: "MongoDB SRV URL",
    text: `"mongodb+srv://admin:${SECRET.password}@cluster0.abcde.mongodb.net/test?retryWrites=true"`,
    secret: SECRET.password,
    kind: "connection_string_password",
  },
  {
    name: "Redis URL without a user",
    text: `REDIS_URL=redis://:${SECRET.password}@cache:6379/0`,
    secret: SECRET.password,
    kind: "connection_string_password",
  },
  {
    name: "AMQP URL with an @ in the password",
    text: `amqp://guest:p@${SECRET.password}@rabbit:5672/vhost`,
    secret: `p@${SECRET.password}`,
    kind: "connection_string_password",
  },
  {
    name: "password query parameter",
    text: `jdbc:postgresql://db/app?user=app&password=${SECRET.password}&ssl=true`,
    secret: SECRET.password,
    kind: "connection_string_password",
  },
  {
    name: "ADO.NET connection string",
    text: `Server=tcp:db.example.com,1433;User Id=app;Password=${SECRET.password};Encrypt=True;`,
    secret: SECRET.password,
    kind: "connection_string_password",
  },
  {
    name: "quoted ADO.NET password",
    text: `Host=db; Username=app; Pwd='${SECRET.password};x'; Pooling=true`,
    secret: `${SECRET.password};x`,
    kind: "connection_string_password",
  },
];

/** `text` with the one occurrence of `secret` replaced by the placeholder of `kind`. */
const replaced = (text: string, secret: string, kind: SecretKind): string =>
  text.split(secret).join(maskPlaceholder(kind));

const expectSpansOnPlaceholders = (text: string, spans: { kind: SecretKind; start: number; end: number }[]): void => {
  for (const span of spans) expect(text.slice(span.start, span.end)).toBe(maskPlaceholder(span.kind));
};

describe("maskSecretsInText", () => {
  it.each(CASES)("masks a $name, and only the secret", ({ text, secret, kind }) => {
    expect(text.split(secret)).toHaveLength(2);
    const result = maskSecretsInText(text);
    expect(result.text).toBe(replaced(text, secret, kind));
    expect(result.spans).toEqual([
      { kind, start: text.indexOf(secret), end: text.indexOf(secret) + maskPlaceholder(kind).length },
    ]);
    expectSpansOnPlaceholders(result.text, result.spans);
    expect(result.text).not.toContain(secret);
  });

  it("names each kind with a fixed placeholder", () => {
    expect(SECRET_KINDS.map(maskPlaceholder)).toEqual([
      "[masked:private_key]",
      "[masked:anthropic_key]",
      "[masked:openai_key]",
      "[masked:github_token]",
      "[masked:aws_access_key]",
      "[masked:aws_secret_access_key]",
      "[masked:connection_string_password]",
      "[masked:bearer_token]",
    ]);
  });

  it("masks every secret of a text that holds many, with each span on its placeholder", () => {
    const text = CASES.map((c) => c.text).join("\n---\n");
    const result = maskSecretsInText(text);
    expect(result.spans.map((span) => span.kind)).toEqual(CASES.map((c) => c.kind));
    expectSpansOnPlaceholders(result.text, result.spans);
    for (const { secret } of CASES) expect(result.text).not.toContain(secret);
  });

  it("names a key sent as a bearer token or used as a URL password by its own kind", () => {
    expect(maskSecretsInText(`Authorization: Bearer ${SECRET.openaiProject}`).text).toBe(
      "Authorization: Bearer [masked:openai_key]",
    );
    expect(maskSecretsInText(`https://x-access-token:${SECRET.githubServer}@github.com/o/r`).text).toBe(
      "https://x-access-token:[masked:github_token]@github.com/o/r",
    );
  });

  it("masks a PEM block as one span, whatever it holds", () => {
    const block = pem("EC PRIVATE KEY", 3).replace("\n", `\nBearer ${SECRET.jwt}\n${SECRET.awsKeyId}\n`);
    const result = maskSecretsInText(`a ${block} b`);
    expect(result).toEqual({ text: "a [masked:private_key] b", spans: [{ kind: "private_key", start: 2, end: 22 }] });
  });

  it("masks a PEM block cut off before its END line through its body", () => {
    const body = [draw(`${ALNUM}+/`, 64), draw(`${ALNUM}+/`, 64), draw(`${ALNUM}+/`, 30)].join("\n");
    const text = `log: -----BEGIN RSA PRIVATE KEY-----\n${body}\n[truncated]`;
    expect(maskSecretsInText(text).text).toBe("log: [masked:private_key]\n[truncated]");
  });

  it("does not let a cut-off block swallow the next one", () => {
    const cut = `-----BEGIN PRIVATE KEY-----\n${draw(`${ALNUM}+/`, 64)}`;
    const result = maskSecretsInText(`${cut}\n(cut)\n${SECRET.pkcs8Key}`);
    expect(result.text).toBe("[masked:private_key]\n(cut)\n[masked:private_key]");
  });

  it("leaves masked text as it is when masked again", () => {
    const once = maskSecretsInText(CASES.map((c) => c.text).join("\n"));
    expect(maskSecretsInText(once.text)).toEqual({ text: once.text, spans: [] });
  });
});

/** The value at a JSON Pointer. */
const at = (value: unknown, pointer: string): unknown =>
  pointer
    .split("/")
    .slice(1)
    .map((segment) => segment.replaceAll("~1", "/").replaceAll("~0", "~"))
    .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], value);

describe("maskSecretsInEvent", () => {
  const toolResult = {
    type: "tool_result",
    invocationId: "call_1",
    tool: "http_request",
    status: "success",
    durationMs: 12,
    input: {
      url: "https://api.example.com/v1/items?page=2",
      headers: { authorization: `Bearer ${SECRET.jwt}`, "x-api-key": SECRET.anthropic, "a/b~c": SECRET.openaiLegacy },
      retries: 3,
      verbose: false,
      extra: null,
    },
    output: {
      status: 200,
      body: `{"ok":true,"db":"postgres://app:${SECRET.password}@db.internal:5432/prod"}`,
      lines: ["first line", `export GITHUB_TOKEN=${SECRET.githubClassic}`, `${SECRET.awsKeyId} ${SECRET.githubOauth}`],
    },
    stateDelta: { lastKey: SECRET.openaiProject },
  };

  it("masks strings at any depth and records each span's pointer and kind", () => {
    const before = structuredClone(toolResult);
    const { event, masked } = maskSecretsInEvent(toolResult, STRUCTURAL_EVENT_FIELDS);
    expect(masked.map(({ path, kind }) => ({ path, kind }))).toEqual([
      { path: "/input/headers/authorization", kind: "bearer_token" },
      { path: "/input/headers/x-api-key", kind: "anthropic_key" },
      { path: "/input/headers/a~1b~0c", kind: "openai_key" },
      { path: "/output/body", kind: "connection_string_password" },
      { path: "/output/lines/1", kind: "github_token" },
      { path: "/output/lines/2", kind: "aws_access_key" },
      { path: "/output/lines/2", kind: "github_token" },
      { path: "/stateDelta/lastKey", kind: "openai_key" },
    ]);
    for (const span of masked) {
      expect((at(event, span.path) as string).slice(span.start, span.end)).toBe(maskPlaceholder(span.kind));
    }
    expect(event.input.headers).toEqual({
      authorization: "Bearer [masked:bearer_token]",
      "x-api-key": "[masked:anthropic_key]",
      "a/b~c": "[masked:openai_key]",
    });
    expect(event.output.lines[2]).toBe("[masked:aws_access_key] [masked:github_token]");
    const stored = JSON.stringify({ event, masked });
    for (const secret of Object.values(SECRET)) expect(stored).not.toContain(secret);
    expect(toolResult).toEqual(before);
  });

  it("keeps what has no string, and the structure, exactly", () => {
    const { event } = maskSecretsInEvent(toolResult);
    expect({ ...event.input, headers: undefined }).toEqual({ ...toolResult.input, headers: undefined });
    expect(Object.keys(event)).toEqual(Object.keys(toolResult));
    expect(event.output.status).toBe(200);
    // What was not masked is shared, not copied: the input is never changed, so that is safe.
    expect(event.input.url).toBe(toolResult.input.url);
    expect(event.output).not.toBe(toolResult.output);
  });

  it("masks message content, as a string or as parts, and never the top-level structural fields", () => {
    const message = {
      type: "message",
      role: "user",
      name: SECRET.openaiLegacy,
      content: [
        { type: "text", text: `use ${SECRET.openaiLegacy} please` },
        { type: "text", text: SECRET.rsaKey },
      ],
      providerOptions: { openai: { user: `Bearer ${SECRET.opaqueToken}` } },
    };
    const { event, masked } = maskSecretsInEvent(message);
    expect(event.name).toBe(SECRET.openaiLegacy);
    expect(event.content).toEqual([
      { type: "text", text: "use [masked:openai_key] please" },
      { type: "text", text: "[masked:private_key]" },
    ]);
    expect(masked).toEqual<MaskedSpan[]>([
      { path: "/content/0/text", kind: "openai_key", start: 4, end: 23 },
      { path: "/content/1/text", kind: "private_key", start: 0, end: 20 },
      { path: "/providerOptions/openai/user", kind: "bearer_token", start: 7, end: 28 },
    ]);
    const plain = maskSecretsInEvent({ type: "message", role: "user", content: `key ${SECRET.githubFineGrained}` });
    expect(plain.event.content).toBe("key [masked:github_token]");
    expect(plain.masked).toEqual([{ path: "/content", kind: "github_token", start: 4, end: 25 }]);
  });

  it("skips exactly the top-level fields it is given, and leaves object keys alone", () => {
    const event = { type: "custom", name: "note", data: { [SECRET.awsKeyId]: SECRET.awsKeyId }, note: SECRET.awsKeyId };
    const result = maskSecretsInEvent(event, new Set(["type", "name", "note"]));
    expect(result.event).toEqual({ ...event, data: { [SECRET.awsKeyId]: "[masked:aws_access_key]" } });
    expect(result.masked).toEqual([{ path: `/data/${SECRET.awsKeyId}`, kind: "aws_access_key", start: 0, end: 23 }]);
  });

  it("answers the event itself when nothing is masked", () => {
    const event = { type: "message", role: "assistant", content: [{ type: "text", text: "All good." }] };
    const result = maskSecretsInEvent(event);
    expect(result.event).toBe(event);
    expect(result.masked).toEqual([]);
  });

  it("refuses a value nested deeper than stored JSON may be", () => {
    let deep: Record<string, unknown> = { leaf: SECRET.githubClassic };
    for (let i = 0; i < 1100; i++) deep = { n: deep };
    expect(() => maskSecretsInEvent({ type: "custom", name: "n", data: deep })).toThrow(
      expect.objectContaining({ code: "invalid_request" }),
    );
  });

  it('keeps an own "__proto__" key a plain field of the copy', () => {
    const event = JSON.parse(`{"type":"custom","name":"n","data":{"__proto__":{"k":"${SECRET.githubClassic}"}}}`);
    const { event: masked } = maskSecretsInEvent(event);
    expect(Object.getPrototypeOf(masked.data)).toBe(Object.prototype);
    expect(Object.hasOwn(masked.data, "__proto__")).toBe(true);
    expect(JSON.stringify(masked)).toBe(
      '{"type":"custom","name":"n","data":{"__proto__":{"k":"[masked:github_token]"}}}',
    );
  });
});

/** Ordinary text that mentions the anchors of every detector without holding a secret. */
const ORDINARY = [
  "Let's go over the task-list and the risk-based plan, then ask-me-anything at the kiosk-mode demo.",
  "Install scikit-learn with `pip install scikit-learn`; the sk-learn alias is an old name.",
  "The bearer of this letter is a friend. Bearer bonds are rare. The token is a bearer token.",
  "Authorization: Bearer <token>",
  "Authorization: Bearer YOUR_API_KEY_HERE",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: code quoted in a chat, not a template
  "headers: { Authorization: `Bearer ${process.env.TOKEN}` }",
  "Set OPENAI_API_KEY=sk-... in your .env, or use sk-proj-xxxx from the dashboard.",
  "The sk-component-primary-button-large-outline class is deprecated.",
  "ASIA PACIFIC region, AKIA is a prefix, AKIAshort and AKIA1234567890ABCDEF12345 are not keys.",
  "ghp_ tokens start with ghp_, and github_pat_ for fine-grained ones; see ghp_example.",
  "Visit https://example.com/path?query=1#frag or http://localhost:3000/api/v1 or https://user@github.com/o/r.",
  "postgres://localhost:5432/app and redis://cache:6379/0 and mongodb://db1,db2/app?replicaSet=rs0",
  "mailto:someone@example.com, git@github.com:org/repo.git, https://mastodon.social/@user, http://[::1]:8080/",
  "Set the password= field in the form; the reset?token=abc link; a password of your choice.",
  "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2 (a certificate is public)\n-----END CERTIFICATE-----",
  "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
  "Paste the block that starts with -----BEGIN PRIVATE KEY----- into the field.",
  "Request id 550e8400-e29b-41d4-a716-446655440000 and trace 4bf92f3577b34da6a3ce929d0e0e4736.",
  "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855, commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
  "const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY; // aws_secret_access_key = <your key>",
  "function mask(s) { return s.replace(/sk-[A-Za-z0-9]+/g, '***'); }",
  "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
  "読み込み中… Ünïcödé tëxt with émojis 🔑 and sk-🔑 and Bearer 🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑🔑",
];

describe("no false positives", () => {
  it.each(ORDINARY)("leaves ordinary text as it is: %s", (text) => {
    expect(maskSecretsInText(text)).toEqual({ text, spans: [] });
  });

  it("leaves random text, URLs without a password, UUIDs and hashes as they are", () => {
    const unmasked = (text: string) => {
      const result = maskSecretsInText(text);
      expect(result.spans).toEqual([]);
      expect(result.text).toBe(text);
    };
    fc.assert(fc.property(fc.string({ maxLength: 300 }), unmasked), { numRuns: 300 });
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 300 }), unmasked), { numRuns: 300 });
    fc.assert(fc.property(fc.webUrl({ withQueryParameters: true, withFragments: true }), unmasked), { numRuns: 300 });
    fc.assert(
      fc.property(fc.uuid(), fc.emailAddress(), (id, email) => unmasked(`${id} ${email}`)),
      { numRuns: 200 },
    );
    fc.assert(fc.property(fc.stringMatching(/^[0-9a-f]{40,64}$/), unmasked), { numRuns: 200 });
  });

  it("leaves text made of every detector's anchor, short of a secret, as it is", () => {
    const nearMisses = fc.constantFrom(
      "sk-",
      "sk-ant-",
      "sk-proj-",
      "Bearer",
      "bearer\t",
      "AKIA",
      "ASIA",
      "ghp_",
      "github_pat_",
      "-----BEGIN RSA PRIVATE KEY-----",
      "-----BEGIN PRIVATE KEY-----\n",
      "://",
      "postgres://",
      "mongodb+srv://",
      "secret_access_key",
    );
    const pieces = fc.array(fc.oneof(fc.string({ maxLength: 10 }), nearMisses), { maxLength: 40 });
    fc.assert(
      fc.property(pieces, (parts) => {
        const text = parts.join(" ");
        expect(maskSecretsInText(text)).toEqual({ text, spans: [] });
      }),
      { numRuns: 500 },
    );
  });
});

const chars = (alphabet: string, minLength: number, maxLength = minLength) =>
  fc.string({ unit: fc.constantFrom(...alphabet), minLength, maxLength });

/** A generated secret in its context: the text before it, the secret, the text after, its kind. */
type Planted = { before: string; secret: string; after: string; kind: SecretKind };
const planted =
  (kind: SecretKind, before = "", after = "") =>
  (secret: string): Planted => ({ before, secret, after, kind });

const GENERATED: fc.Arbitrary<Planted>[] = [
  fc.tuple(chars(ALNUM, 20, 60), chars(ALNUM, 20, 60)).map(([a, b]) => planted("openai_key")(`sk-${a}T3BlbkFJ${b}`)),
  fc
    .tuple(fc.constantFrom("proj", "svcacct", "admin"), chars(TOKEN, 20, 80), chars(TOKEN, 20, 80))
    .map(([p, a, b]) => planted("openai_key")(`sk-${p}-${a}T3BlbkFJ${b}`)),
  chars(TOKEN, 32, 120).map((body) => planted("anthropic_key")(`sk-ant-api03-${body}`)),
  fc
    .tuple(fc.constantFrom("AKIA", "ASIA"), chars(UPPER + DIGITS, 16))
    .map(([p, b]) => planted("aws_access_key")(p + b)),
  chars(`${ALNUM}+/`, 40).map(planted("aws_secret_access_key", "aws_secret_access_key = ")),
  fc
    .tuple(fc.constantFrom("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), chars(ALNUM, 36))
    .map(([p, b]) => planted("github_token")(p + b)),
  fc.tuple(chars(ALNUM, 22), chars(ALNUM, 59)).map(([a, b]) => planted("github_token")(`github_pat_${a}_${b}`)),
  fc
    .tuple(chars(LOWER, 8, 40), chars(UPPER + DIGITS, 8, 40), chars("-._~+/", 0, 5))
    .map(([a, b, c]) => planted("bearer_token", "Authorization: Bearer ")(a + b + c)),
  fc
    .tuple(
      fc.constantFrom("RSA ", "EC ", "OPENSSH ", ""),
      fc.array(chars(`${ALNUM}+/`, 64), { minLength: 1, maxLength: 8 }),
    )
    .map(([label, lines]) =>
      planted("private_key")(
        `-----BEGIN ${label}PRIVATE KEY-----\n${lines.join("\n")}\n-----END ${label}PRIVATE KEY-----`,
      ),
    ),
  fc
    .tuple(
      fc.constantFrom("postgres", "mysql", "mongodb+srv", "redis", "amqps"),
      chars(ALNUM, 0, 12),
      chars(`${ALNUM}!$%^*()_+=-.~:@,`, 1, 40),
    )
    .map(([scheme, user, password]) =>
      planted("connection_string_password", `${scheme}://${user}:`, "@db.example.com:5432/app")(password),
    ),
  chars(`${ALNUM}!$%^*()_+=-.~:@,/`, 1, 40).map(
    planted("connection_string_password", "Server=db;User Id=app;Password=", ";"),
  ),
];

describe("masking generated secrets planted in random text", () => {
  it("masks the secret and leaves the rest unchanged", () => {
    const separator = fc.constantFrom(" ", "\n", "\t", '"', "'", "(", ", ", "> ");
    fc.assert(
      fc.property(
        fc.string({ maxLength: 200 }),
        separator,
        fc.oneof(...GENERATED),
        separator,
        fc.string({ maxLength: 200 }),
        (prefix, open, { before, secret, after, kind }, close, suffix) => {
          const head = `${prefix}${open}${before}`;
          const tail = `${after}${close}${suffix}`;
          const result = maskSecretsInText(head + secret + tail);
          const placeholder = maskPlaceholder(kind);
          expect(result.text).toBe(head + placeholder + tail);
          expect(result.spans).toEqual([{ kind, start: head.length, end: head.length + placeholder.length }]);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
