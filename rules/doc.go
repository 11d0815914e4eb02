// Package rules decides from risk signals when to challenge: an ordered
// list of named rules, each a CEL condition (https://cel.dev) over
// [Signals] and a [Verdict] — ALLOW, CHALLENGE (with methods and whether
// a verification code is asked), BLOCK or REVIEW — plus a default.
//
// It is a package of its own so that apps that do not use rules do not
// compile CEL. docs/rules.md describes the language, every signal and the
// file format.
//
// # Pieces
//
//   - [Parse] reads a rules file (YAML or JSON, strictly: unknown fields
//     are refused) into a [Definition]; [Load] reads, parses and compiles.
//   - [New] compiles every rule once; a rule that does not compile, names
//     an unknown variable or is not bool fails with a [*CompileError]
//     giving the rule's name and line:column.
//   - [Set.Evaluate] returns the first true rule's verdict, or the default.
//     Each rule's evaluation has a cost limit; an evaluation error fails
//     closed (a CHALLENGE, or BLOCK where the file says onError: BLOCK)
//     and is reported to [Options.OnError].
//   - [Set.Explain] evaluates every rule with no side effects, for tests
//     of an app's rule file.
//   - [Set.Policy] adapts the set to deviceauth.Policy.
package rules
