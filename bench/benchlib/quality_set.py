"""The labelled evaluation set of ``bench/quality.py``: credentials in the layouts people write them in,
and realistic near-misses, one case a file, with the truth kept in memory.

* **Positives**: for every rule, the credential values of its true examples (taken out of the example
  with the rule's own pattern), each written as the example has it and in ten layouts (env, YAML, JSON,
  XML, properties, Python, JavaScript, a notebook, a log line, a URL query), named after the
  credential type (``GITHUB_TOKEN``, ``datadogApiKey``); multi-line values (private keys, service
  account files) as written and as a file of their own.  The generic family: random passwords and API
  keys under neutral names (``DB_PASSWORD``, ``client_secret``) in the same layouts and on command lines.
* **Negatives** (near-misses no rule was written from): per family, placeholders, templates and
  documentation values in the shapes of its credentials and what is public by design (a Stripe
  publishable key, Azure tenant IDs, public keys); for the generic family, code that reads a secret from
  elsewhere, templates, form labels and placeholders under credential names; and for none, hashes and
  checksums, UUIDs, base64 images, minified JavaScript and lock files.  The rules' own false examples are
  not used: a false example of one rule can be another rule's credential (an unencrypted key is a false
  example of the encrypted-key rule), and they were written against keysentry's rules.

A file's case says its family, whether it holds a credential, and (in memory only) the value a tool
must show to have found it.  The values come from keysentry's own rule examples: the set measures how
each tool handles layouts and near-misses on formats written from the issuers' documentation, and it
favours keysentry on formats only its examples use.  That bias is stated next to the table.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import string
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from keysentry.detect.pairing import keyword_pattern

# Rule id prefixes → family (the first that matches).  The table is per family.
FAMILIES: list[tuple[str, tuple[str, ...]]] = [
    ("AWS", ("aws-",)),
    ("private keys", ("private-key-", "age-secret-key", "gcp-service-account")),
    ("generic", ("generic-",)),
    ("databases & data", (
        "database-url", "connection-string", "mongodb", "databricks", "supabase", "planetscale",
        "confluent", "algolia", "pinecone", "jwt-secret",
    )),
    ("code hosts & CI", (
        "github", "gitlab", "bitbucket", "gitea", "circleci", "buildkite", "jfrog", "sonarqube", "snyk",
        "travis", "codecov", "harness", "octopus", "terraform", "pulumi", "atlassian", "azure-devops",
        "sourcegraph", "prefect",
    )),
    ("AI", (
        "openai", "anthropic", "cohere", "mistral", "groq", "perplexity", "xai", "huggingface",
        "replicate", "together", "deepseek", "deepgram", "elevenlabs", "assemblyai", "openrouter",
        "langsmith", "wandb", "azure-openai",
    )),
    ("packages", ("npm", "pypi", "rubygems", "nuget", "dockerhub", "crates-io", "clojars")),
    ("secrets managers", ("vault", "doppler", "onepassword", "infisical")),
    ("chat & messaging", (
        "slack", "discord", "telegram", "twilio", "vonage", "messagebird", "microsoft-teams", "sendgrid",
        "mailgun", "mailchimp", "mailersend", "postmark", "resend", "brevo",
    )),
    ("payments & commerce", (
        "stripe", "braintree", "plaid", "square", "shopify", "gocardless", "flutterwave", "duffel",
        "shippo", "lob", "easypost",
    )),
    ("observability", (
        "datadog", "newrelic", "sentry", "honeycomb", "grafana", "pagerduty", "opsgenie", "dynatrace",
        "sumologic", "bugsnag", "rollbar", "segment", "mixpanel", "launchdarkly",
    )),
    ("cloud", (
        "alibaba", "azure", "cloudflare", "digitalocean", "flyio", "google", "hetzner", "heroku", "ibm",
        "linode", "netlify", "railway", "render", "scaleway", "scalingo", "vercel", "vultr", "yandex",
        "fastly", "tailscale", "firebase",
    )),
]
OTHER_FAMILY = "other services"
NEAR_MISS = "near-misses"


def family_of(rule_id: str) -> str:
    for family, prefixes in FAMILIES:
        if rule_id.startswith(prefixes):
            return family
    return OTHER_FAMILY


@dataclass
class Case:
    path: str  # relative to the tree
    family: str
    rule: str  # the rule it was made from ("" for near-misses)
    layout: str
    text: str = field(default="", repr=False)  # the file's content
    values: tuple[str, ...] = field(default=(), repr=False)  # what a tool must show (empty: a negative)

    @property
    def positive(self) -> bool:
        return bool(self.values)

    def truth_record(self) -> dict[str, object]:
        """What truth.jsonl keeps: never a value, only its SHA-256."""
        return {
            "path": self.path,
            "family": self.family,
            "rule": self.rule,
            "layout": self.layout,
            "positive": self.positive,
            "value_sha256": [hashlib.sha256(v.encode()).hexdigest() for v in self.values],
        }


# --- values out of the rules' examples ------------------------------------------------------------------


def _carrier(rule, text: str) -> str | None:  # type: ignore[no-untyped-def]
    """The string a secret only lives inside, as the example writes it: a database URL, a connection
    string, a webhook URL, a ``bot-id:secret`` token.  The layouts then assign it to a name."""
    match = re.search(rule.parts["secret"].pattern, text)
    if match is None:
        return None
    whole = match.group(0).strip()
    line = next((line for line in text.splitlines() if match.group(1) in line), "")
    id_part = rule.parts.get("id")
    same_line = id_part is not None and re.search(id_part.pattern, line) is not None
    if not same_line and (whole == match.group(1) or not re.search(r"://|;|hooks\.|webhooks/", whole)):
        return None
    value = re.match(r"""\s*(?:export\s+)?["']?[\w.-]+["']?\s*[:=]\s*["']?(.*?)["']?,?\s*$""", line)
    return value.group(1) if value and match.group(1) in value.group(1) else line.strip()


def _values_of(rule, text: str) -> tuple[str | None, str] | None:  # type: ignore[no-untyped-def]
    """(id, secret) of the example's credential, found with the rule's own patterns."""
    secret_re = re.compile(rule.parts["secret"].pattern)
    secrets = [m.group(1) for m in secret_re.finditer(text)]
    if not secrets:
        return None
    if "id" not in rule.parts or _carrier(rule, text):
        return None, secrets[0]
    ids = [m.group(1) for m in re.compile(rule.parts["id"].pattern).finditer(text)]
    if not ids:
        return None
    # The secret nearest after the id (pairs in examples are written id first, or secret on another line).
    kid = ids[0]
    after = [s for s in secrets if text.find(s) > text.find(kid) and s != kid]
    return kid, (after or [s for s in secrets if s != kid] or [secrets[0]])[0]


def _names(credential_type: str) -> tuple[str, str, str]:
    """ENV_NAME, camelName, snake_name for a credential type."""
    snake = credential_type.lower()
    camel = re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), snake)
    return snake.upper(), camel, snake


def _layouts(credential_type: str, kid: str | None, secret: str) -> dict[str, tuple[str, str]]:
    """layout → (file name, text) for one credential."""
    env, camel, snake = _names(credential_type)
    pairs = [(f"{env}_SECRET" if kid else env, f"{camel}Secret" if kid else camel, f"{snake}_secret" if kid else snake, secret)]
    if kid:
        if credential_type.startswith("aws"):
            pairs = [
                ("AWS_ACCESS_KEY_ID", "accessKeyId", "aws_access_key_id", kid),
                ("AWS_SECRET_ACCESS_KEY", "secretAccessKey", "aws_secret_access_key", secret),
            ]
        else:
            pairs.insert(0, (f"{env}_ID", f"{camel}Id", f"{snake}_id", kid))
    out = {
        "env": ("settings.env", "".join(f"{e}={v}\n" for e, _, _, v in pairs)),
        "yaml": ("config.yaml", "service:\n" + "".join(f"  {s}: {v}\n" for _, _, s, v in pairs)),
        "json": ("config.json", json.dumps({c: v for _, c, _, v in pairs}, indent=2) + "\n"),
        "xml": ("config.xml", "<config>\n" + "".join(f"  <{c}>{v}</{c}>\n" for _, c, _, v in pairs) + "</config>\n"),
        "properties": ("application.properties", "".join(f"app.{s.replace('_', '-')}={v}\n" for _, _, s, v in pairs)),
        "python": ("settings.py", "import os\n\n" + "".join(f'{e} = "{v}"\n' for e, _, _, v in pairs)),
        "javascript": ("config.js", "module.exports = {\n" + "".join(f'  {c}: "{v}",\n' for _, c, _, v in pairs) + "};\n"),
        "notebook": ("analysis.ipynb", _notebook([f'os.environ["{e}"] = "{v}"\n' for e, _, _, v in pairs])),
        "log": ("worker.log", "".join(
            f"2026-11-30T10:00:0{i}Z INFO worker: loaded settings {e}={v}\n" for i, (e, _, _, v) in enumerate(pairs)
        )),
    }
    if not kid and re.fullmatch(r"[A-Za-z0-9._~-]+", secret):
        out["url"] = ("links.md", f"Report: <https://api.example.org/v1/export?{snake}={secret}&format=csv>\n")
    return out


def _notebook(lines: list[str]) -> str:
    cell = {"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [],
            "source": ["import os\n", *lines]}
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1) + "\n"


def _named_enough(rule) -> bool:  # type: ignore[no-untyped-def]
    """Whether the layouts' names (``<CREDENTIAL_TYPE>``) carry what the rule needs around a value: a
    rule that wants a keyword near a value that is not self-identifying (a 24-character string next to
    a Google client ID) gets no layouts, only its examples as written."""
    if not rule.keywords:
        return True
    names = " ".join(_names(rule.credential_type))
    return keyword_pattern(rule.keywords).search(names.encode()) is not None  # type: ignore[union-attr]


def _sniff_name(text: str) -> str:
    stripped = text.lstrip()
    if stripped.startswith("{") or stripped.startswith("["):
        return "example.json"
    if stripped.startswith("<"):
        return "example.xml"
    if "-----BEGIN" in text:
        return "example.pem"
    return "example.txt"


def rule_cases(rules) -> list[Case]:  # type: ignore[no-untyped-def]
    cases: list[Case] = []
    for rule in rules:
        if rule.catch_all:
            continue
        family = family_of(rule.id)
        for n, example in enumerate(rule.examples.true):
            values = _values_of(rule, example.text)
            if values is None:
                continue
            kid, secret = values
            name = _sniff_name(example.text)
            cases.append(Case(f"{rule.id}/t{n}-as-written/{name}", family, rule.id, "as written", example.text, (secret,)))
            if "\n" in secret.strip() or "\\n" in secret:
                own = "key.pem" if "BEGIN" in secret else "credentials.json"
                cases.append(Case(f"{rule.id}/t{n}-file/{own}", family, rule.id, "own file", secret + "\n", (secret,)))
            elif n == 0 and _named_enough(rule):  # layouts of the first example's value (or what holds it)
                carrier = _carrier(rule, example.text)
                written = _layouts(rule.credential_type, None, carrier) if carrier else _layouts(rule.credential_type, kid, secret)
                for layout, (file, body) in written.items():
                    cases.append(Case(f"{rule.id}/t{n}-{layout}/{file}", family, rule.id, layout, body, (secret,)))
    return cases


# --- the generic family ---------------------------------------------------------------------------------


def _random_value(rng: random.Random, length: int, symbols: str = "") -> str:
    alphabet = string.ascii_letters + string.digits + symbols
    while True:
        value = "".join(rng.choice(alphabet) for _ in range(length))
        if any(c.isdigit() for c in value) and any(c.isupper() for c in value) and any(c.islower() for c in value):
            return value


GENERIC_NAMES = [
    ("DB_PASSWORD", "dbPassword", "db_password"),
    ("SMTP_PASS", "smtpPass", "smtp_pass"),
    ("REDIS_PASSWORD", "redisPassword", "redis_password"),
    ("ADMIN_PASSWORD", "adminPassword", "admin_password"),
    ("VENDOR_API_KEY", "vendorApiKey", "vendor_api_key"),
    ("CLIENT_SECRET", "clientSecret", "client_secret"),
    ("SECRET_KEY", "secretKey", "secret_key"),
    ("AUTH_TOKEN", "authToken", "auth_token"),
    ("WEBHOOK_SECRET", "webhookSecret", "webhook_secret"),
    ("SIGNING_KEY", "signingKey", "signing_key"),
]


def generic_cases(rng: random.Random) -> list[Case]:
    cases: list[Case] = []
    for i, (env, camel, snake) in enumerate(GENERIC_NAMES):
        password = "PASS" in env
        value = _random_value(rng, rng.randint(12, 18), "!#%+-") if password else _random_value(rng, 32)
        rule = "generic-password" if password else "generic-secret"
        texts = {
            "env": ("app.env", f"{env}={value}\n"),
            "yaml": ("values.yaml", f"app:\n  {snake}: \"{value}\"\n"),
            "json": ("config.json", json.dumps({camel: value}, indent=2) + "\n"),
            "xml": ("web.xml", f"<settings>\n  <{camel}>{value}</{camel}>\n</settings>\n"),
            "properties": ("app.properties", f"app.{snake.replace('_', '.')}={value}\n"),
            "python": ("settings.py", f'{env} = "{value}"\n'),
            "javascript": ("config.js", f"export const config = {{ {camel}: '{value}' }};\n"),
            "compose": ("docker-compose.yml", f"services:\n  app:\n    environment:\n      {env}: {value}\n"),
            "command line": ("deploy.sh", f"./tool --{snake.replace('_', '-')}={value} --region eu\n"
                             if not password else f"mysql -u app -p{value} orders < schema.sql\n"),
        }
        for layout, (name, text) in texts.items():
            cases.append(Case(f"generic/{i}-{layout}/{name}", "generic", rule, layout, text, (value,)))
    return cases


# --- near-misses ----------------------------------------------------------------------------------------


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _b64(rng: random.Random, n: int) -> str:
    return base64.b64encode(rng.randbytes(n)).decode()


# Near-misses a family's rules must not report: placeholders and documentation values in the shapes of
# that family's credentials, and what looks like them but is public by design.
FAMILY_NEAR_MISSES: dict[str, dict[str, str]] = {
    "AWS": {
        "docs.env": "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
        "template.env": "AWS_ACCESS_KEY_ID=AKIA" + "X" * 16 + "\nAWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY}\n",
        "outputs.json": '{"UserId": "AIDAJQABLZS4A3QDU576Q", "RoleId": "AROAJ3QMBCBN2FFXCEVPQ", '
        '"Arn": "arn:aws:iam::123456789012:role/deploy"}\n',
        "ci.yml": "env:\n  AWS_ACCESS_KEY_ID: ${{ secrets.AWS_ACCESS_KEY_ID }}\n"
        "  AWS_SECRET_ACCESS_KEY: ${{ secrets.AWS_SECRET_ACCESS_KEY }}\n",
    },
    "code hosts & CI": {
        ".env.example": "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nGITLAB_TOKEN=glpat-XXXXXXXXXXXXXXXXXXXX\n",
        "workflow.yml": "env:\n  GH_TOKEN: ${{ secrets.GITHUB_TOKEN }}\n  NPM_TOKEN: ${{ secrets.NPM_TOKEN }}\n",
        "redacted.log": "using token ghp_****************************** for api.github.com\n",
    },
    "payments & commerce": {
        ".env.example": "STRIPE_SECRET_KEY=sk_live_XXXXXXXXXXXXXXXXXXXXXXXX\nSTRIPE_WEBHOOK_SECRET=whsec_...\n",
        "checkout.js": "const stripe = Stripe('pk_live_51HqLyjWDarjtT1zdp7dcXyZ0abCdEfGhIjKlMnOpQrStUv');\n",
        "docs.md": "Set `SHOPIFY_ACCESS_TOKEN` to your app's token (it starts with `shpat_`).\n",
    },
    "chat & messaging": {
        ".env.example": "SLACK_BOT_TOKEN=xoxb-your-bot-token\n"
        "SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX\n",
        "README.md": "Create a bot, then `export TELEGRAM_BOT_TOKEN=<token from @BotFather>`.\n",
        "twilio.env": "TWILIO_ACCOUNT_SID=ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nTWILIO_AUTH_TOKEN=your_auth_token\n",
    },
    "AI": {
        ".env.example": "OPENAI_API_KEY=sk-...\nANTHROPIC_API_KEY=<your-anthropic-key>\nHF_TOKEN=hf_xxxxxxxxxxxxxxxx\n",
        "settings.py": 'OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY")\nclient = Anthropic(api_key=key)\n',
    },
    "cloud": {
        ".env.example": "GOOGLE_API_KEY=AIzaSyXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\nCLOUDFLARE_API_TOKEN=<token>\n",
        "tenant.json": '{"tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", '
        '"clientId": "04b07795-8ddb-461a-bbee-02f9e1bf7b46"}\n',
        "variables.tf": 'variable "do_token" {\n  type      = string\n  sensitive = true\n}\n',
    },
    "private keys": {
        "placeholder.pem": "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n",
        "README.md": "Put your key in `~/.ssh/id_ed25519` (it starts with `-----BEGIN OPENSSH PRIVATE KEY-----`).\n",
    },
    "databases & data": {
        "docs.py": '"""engine = create_engine("postgresql://scott:tiger@localhost/mydatabase")"""\n',
        ".env.example": "DATABASE_URL=postgres://user:password@localhost:5432/app\n"
        "REDIS_URL=redis://localhost:6379/0\nMONGO_URL=mongodb://mongo:27017/app\n",
        "compose.yml": "services:\n  db:\n    image: postgres\n    environment:\n"
        "      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}\n",
        "appsettings.json": '{"ConnectionStrings": {"Db": "Server=.;Database=app;Trusted_Connection=True;"}}\n',
    },
    "packages": {
        ".npmrc": "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n",
        ".pypirc": "[pypi]\nusername = __token__\npassword = <your PyPI token>\n",
    },
    "secrets managers": {
        "vault.hcl": 'token = "${VAULT_TOKEN}"\naddress = "https://vault.internal:8200"\n',
        ".env.example": "DOPPLER_TOKEN=dp.st.xxxx\n",
    },
    "generic": {
        "settings.py": 'import os\nDB_PASSWORD = os.environ["DB_PASSWORD"]\nAPI_KEY = os.getenv("API_KEY", "")\n'
        "SECRET_KEY = get_secret('django-secret-key')\ntoken = session.token\n",
        "config.js": "const apiKey = process.env.API_KEY;\nconst secret = config.get('secret');\n",
        "main.go": 'password := os.Getenv("DB_PASSWORD")\ntoken, err := loadToken(ctx)\n',
        "App.java": 'String password = System.getenv("DB_PASSWORD");\nString token = vault.read("kv/app");\n',
        "deployment.yaml": "env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef:\n        name: db\n"
        "        key: password\n",
        "main.tf": 'resource "x" "y" {\n  password = var.db_password\n'
        '  api_key  = data.vault_generic_secret.k.data["key"]\n}\n',
        "auth.py": "def login(user, password):\n    if password == user.password:\n        return True\n"
        "MIN_PASSWORD_LENGTH = 12\ntoken_type = 'Bearer'\npassword_hash = bcrypt.hashpw(password, salt)\n",
        "values.yaml": 'db:\n  password: "{{ .Values.db.password }}"\nauth:\n  token: "<your-token>"\n',
        "forms.html": '<input type="password" name="password" placeholder="Password">\n',
        "i18n.json": '{"password": "Password", "forgot_password": "Forgot your password?", "token_expired": "Session expired"}\n',
    },
}


def near_miss_cases(rng: random.Random) -> list[Case]:
    cases = [
        Case(f"near-miss/{family.replace(' ', '-').replace('&', 'and')}/{name}", family, "", "near-miss", text)
        for family, files in FAMILY_NEAR_MISSES.items()
        for name, text in files.items()
    ]
    texts: dict[str, str] = {}
    names = ["API_KEY", "SECRET_KEY", "DB_PASSWORD", "AUTH_TOKEN", "CLIENT_SECRET", "PASSWORD", "TOKEN"]
    placeholders = ["your-api-key-here", "<token>", "${SECRET}", "{{ secrets.TOKEN }}", "xxxxxxxxxxxxxxxxxxxx",
                    "changeme", "********", "REPLACE_ME", "TODO", "<insert-your-key>", "%(secret)s", "$TOKEN"]
    for i, name in enumerate(names):
        texts[f"placeholders/{i}/.env.example"] = f"# copy to .env and fill in\n{name}={placeholders[i]}\n"
        texts[f"placeholders/{i}/values.yaml"] = f"secrets:\n  {name.lower()}: \"{placeholders[i + 5]}\"\n"
    for i in range(8):
        texts[f"hashes/{i}/checksums.txt"] = (
            f"sha256 = \"{_hex(rng, 64)}\"\nsha1: {_hex(rng, 40)}\nmd5sum {_hex(rng, 32)}  dist.tar.gz\n"
            f"etag: \"{_hex(rng, 32)}\"\ncommit {_hex(rng, 40)}\n"
        )
    for i in range(5):
        texts[f"uuids/{i}/tenant.json"] = json.dumps(
            {key: str(uuid.UUID(int=rng.getrandbits(128), version=4))
             for key in ("tenant_id", "client_id", "ClientToken", "request_id")}, indent=2
        ) + "\n"
    for i in range(4):
        texts[f"images/{i}/style.css"] = f".logo {{ background: url(data:image/png;base64,{_b64(rng, 600)}); }}\n"
        texts[f"images/{i}/index.html"] = f'<img alt="logo" src="data:image/gif;base64,{_b64(rng, 300)}">\n'
    for i in range(4):
        words = ["".join(rng.choice(string.ascii_letters) for _ in range(rng.randint(1, 3))) for _ in range(200)]
        body = ";".join(f"var {w}={rng.randint(0, 999)}" for w in words)
        chunks = ",".join(f'{rng.randint(1, 999)}:"{_hex(rng, 20)}"' for _ in range(40))
        texts[f"minified/{i}/app.min.js"] = f"!function(e,t){{{body}}}(this);var c={{{chunks}}};\n"
    packages = ["lodash", "react", "express", "debug", "chalk", "commander", "semver", "uuid", "yargs", "axios"]
    lock = {"name": "app", "lockfileVersion": 3, "packages": {
        f"node_modules/{p}": {"version": f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
                              "resolved": f"https://registry.npmjs.org/{p}/-/{p}.tgz",
                              "integrity": f"sha512-{_b64(rng, 64)}"} for p in packages}}
    texts["locks/package-lock.json"] = json.dumps(lock, indent=2) + "\n"
    texts["locks/poetry.lock"] = "".join(
        f'[[package]]\nname = "{p}"\nversion = "1.0.{n}"\nfiles = [\n    {{file = "{p}-1.0.{n}.tar.gz", '
        f'hash = "sha256:{_hex(rng, 64)}"}},\n]\n\n' for n, p in enumerate(packages)
    )
    texts["locks/go.sum"] = "".join(f"github.com/acme/{p} v1.{n}.0 h1:{_b64(rng, 32)}\n" for n, p in enumerate(packages))
    texts["locks/Cargo.lock"] = "".join(
        f'[[package]]\nname = "{p}"\nversion = "0.{n}.0"\nchecksum = "{_hex(rng, 64)}"\n\n'
        for n, p in enumerate(packages)
    )
    texts["locks/yarn.lock"] = "".join(
        f'{p}@^1.0.0:\n  version "1.0.{n}"\n  integrity sha512-{_b64(rng, 64)}\n\n' for n, p in enumerate(packages)
    )
    body = "\n".join(_b64(rng, 270)[i:i + 64] for i in range(0, 360, 64))
    texts["public/key.pub.pem"] = f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n"
    texts["public/cert.pem"] = f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
    texts["public/authorized_keys"] = f"ssh-ed25519 {_b64(rng, 51)} deploy@ci\n"
    cases += [
        Case(f"near-miss/{path}", "generic" if path.startswith("placeholders/") else NEAR_MISS, "", path.split("/")[0], text)
        for path, text in texts.items()
    ]
    return cases


def build(tree: Path, rules, seed: int) -> list[Case]:  # type: ignore[no-untyped-def]
    """Write the set under ``tree`` (emptied first) and return its cases."""
    rng = random.Random(seed)
    cases = rule_cases(rules) + generic_cases(rng) + near_miss_cases(rng)
    for case in cases:
        path = tree / case.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(case.text, encoding="utf-8")
    return cases
