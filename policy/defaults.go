package policy

// DefaultGatesYAML is the gates section `agentos init` writes into
// agentos.yaml: a YAML fragment (top-level `gates:` key) with comments that
// explain the rules. Its rules must load and their examples pass (tested).
const DefaultGatesYAML = `# Gates: policy-as-code rules over every plan, checked before anything runs.
# Each rule has a CEL condition (when), an effect and a message. A rule whose
# condition uses a step.* variable is evaluated once per step, otherwise once
# per plan. Every matching rule is recorded (audit log and ReviewPack); the
# strictest effect wins: allow < require_approval < deny.
#   require_approval: the task stops in awaiting_approval (exit 4) until a
#     human runs ` + "`agentos approve TASK --plan sha256:…`" + `.
#   deny: the task fails.
# Variables: task.{id,mode,labels,goal,submitter,planner,target},
#   intent.{kind,risk,scope}, plan.{paths,steps,kinds,commands,lines_added,
#   lines_removed,lines_changed,bytes_changed,files_deleted,binary_files,secrets,network,
#   risk,source,runs_plan_files}, step.{index,kind,path,paths,argv,exe,network,
#   lines_added,lines_removed,files_deleted,binary,secrets,added,size,risk,
#   runs_plan_file}.
# Functions: glob(path or list, "pattern") with ** across directories and a
#   pattern without "/" matching the base name anywhere; risk_at_least(r, "high");
#   CEL's own exists(), all(), matches(), startsWith(), size().
# Optional per rule: approvers (names; default: the top-level approvers list,
#   or any human), approvals (N distinct approvers, default 1), and examples
#   that must (match) and must not (not_match) trigger the rule; examples are
#   checked whenever the policy loads and by ` + "`agentos policy test`" + `.
# Built in and not removable: a plan that writes agentos.yaml needs a human
#   approval (rule builtin.policy-file) and no auto_approve rule can cover it.
# Built in unless you define a gate with its id: interpreter-plan-file holds a
#   plan whose interpreter (sh, python, node, ...) runs a file the plan writes.
# Rules reading step.secrets or plan.secrets also judge the final diff before
#   every commit (docs/secrets.md).
gates:
  # AgentOS's own state and git internals are never written by a plan.
  - id: protected-paths
    when: glob(step.paths, ".git/**") || glob(step.paths, ".agentos/**")
    effect: deny
    message: the plan writes inside .git/ or .agentos/, which plans may never touch
    match:
      - {kind: write, path: .agentos/agentos.db}
    not_match:
      - {kind: write, path: docs/agentos.md}

  # CI configuration runs with the repository's secrets: a person reviews it.
  - id: ci-config
    when: >-
      glob(step.paths, ".github/workflows/**") || glob(step.paths, ".github/actions/**") ||
      glob(step.paths, ".gitlab-ci.yml") || glob(step.paths, ".gitlab/ci/**") ||
      glob(step.paths, ".ci/") || glob(step.paths, ".circleci/") || glob(step.paths, ".buildkite/") ||
      glob(step.paths, "Jenkinsfile") || glob(step.paths, "azure-pipelines.yml") || glob(step.paths, ".travis.yml")
    effect: require_approval
    message: the plan changes CI configuration
    match:
      - {kind: write, path: .github/workflows/ci.yml}
      - {kind: patch, path: .gitlab-ci.yml, lines_added: 2}
      - {kind: rename, from: ci/old.yml, to: .ci/pipeline.yml}
    not_match:
      - {kind: write, path: src/workflows/run.go}

  # Deleting many files at once is rarely what a small change needs.
  - id: many-deletions
    when: plan.files_deleted > 10
    effect: require_approval
    message: the plan deletes more than 10 files
    match:
      - {kind: delete, path: "old/{n}.txt", repeat: 11}
    not_match:
      - {kind: delete, path: "old/{n}.txt", repeat: 3}

  # Binary content cannot be reviewed as a diff.
  - id: binary-files
    when: step.binary
    effect: require_approval
    message: the plan writes a binary file
    match:
      - {kind: write, path: assets/logo.png, content: "\x89PNG\0\0\0\rIHDR"}
    not_match:
      - {kind: write, path: README.md, content: "# Title\n"}

  # Credentials must not be committed; if this is a false positive, approve.
  - id: secrets
    when: step.secrets
    effect: require_approval
    message: the plan writes content that looks like a secret (key, token or password)
    match:
      - {kind: write, path: config/db.env, content: "db_password = \"Tr0ub4dor&3x\"\n"}
    not_match:
      - {kind: write, path: config/db.go, content: "password := os.Getenv(\"DB_PASSWORD\")\n"}

  # Large diffs deserve a human read, counted in lines and in bytes (one
  # minified or generated line can be megabytes).
  - id: large-diff
    when: plan.lines_changed > 800 || plan.bytes_changed > 1048576
    effect: require_approval
    message: the plan changes more than 800 lines or 1 MiB
    match:
      - {kind: patch, path: src/big.go, lines_added: 700, lines_removed: 200}
      - {kind: write, path: dist/app.min.js, bytes: 1100000}
    not_match:
      - {kind: patch, path: src/small.go, lines_added: 40, lines_removed: 10}
      - {kind: write, path: src/one.go, bytes: 20000}

# Standing approvals for full_auto (where nobody is asked): a plan held by a
# rule runs only if an auto_approve rule covers it; the rule is recorded.
# auto_approve:
#   - id: generated-docs
#     rules: [large-diff]
#     when: plan.paths.all(p, glob(p, "docs/**"))
`
