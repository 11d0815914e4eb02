package rules_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deviceauth/deviceauth/rules"
)

func TestRulesParseYAMLAndJSONAgree(t *testing.T) {
	yml := "default: {outcome: CHALLENGE, methods: [DEVICE]}\nonError: BLOCK\nrules:\n  - name: a\n    actions: [pay]\n    when: known.prefix\n    then: {outcome: ALLOW}\n"
	jsn := `{"default":{"outcome":"CHALLENGE","methods":["DEVICE"]},"onError":"BLOCK","rules":[{"name":"a","actions":["pay"],"when":"known.prefix","then":{"outcome":"ALLOW"}}]}`
	a, err := rules.Parse([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	b, err := rules.Parse([]byte(jsn))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []rules.Definition{a, b} {
		if d.OnError != rules.Block || d.Default.Outcome != rules.Challenge || len(d.Default.Methods) != 1 ||
			len(d.Rules) != 1 || d.Rules[0].Name != "a" || d.Rules[0].Actions[0] != "pay" || d.Rules[0].When != "known.prefix" || d.Rules[0].Then.Outcome != rules.Allow {
			t.Fatalf("parsed %+v", d)
		}
	}
}

func TestRulesParseStrict(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"unknown yaml field", "default: {outcome: ALLOW}\nrule: []\n", "field rule not found"},
		{"unknown nested yaml field", "default: {outcome: ALLOW}\nrules: [{name: a, when: 'true', then: {outcome: ALLOW}, whne: x}]\n", "field whne not found"},
		{"unknown json field", `{"default":{"outcome":"ALLOW"},"rulez":[]}`, `unknown field "rulez"`},
		{"trailing json", `{"default":{"outcome":"ALLOW"}} {}`, "trailing data"},
		{"two yaml documents", "default: {outcome: ALLOW}\n---\ndefault: {outcome: BLOCK}\n", "more than one YAML document"},
		{"empty", "", "empty file"},
		{"wrong type", "rules: yes\n", "cannot unmarshal"},
		{"too large", strings.Repeat(" ", 1<<20+1), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rules.Parse([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestRulesLoadNamesFileAndRule(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte("default: {outcome: ALLOW}\nrules:\n  - name: broken\n    when: |\n      known.prefix &&\n      velocity.hour >\n    then: {outcome: BLOCK}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := rules.Load(path, rules.Options{})
	if err == nil || !strings.Contains(err.Error(), `rule "broken": 3:1:`) {
		t.Fatalf("err = %v, want rule broken at 3:1", err)
	}
	if _, err := rules.Load(filepath.Join(t.TempDir(), "missing.yaml"), rules.Options{}); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
}

func FuzzRulesParse(f *testing.F) {
	if data, err := os.ReadFile("testdata/example.yaml"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`{"default":{"outcome":"ALLOW"},"rules":[{"name":"a","when":"true","then":{"outcome":"BLOCK"}}]}`))
	f.Add([]byte("default: &a {outcome: ALLOW}\nrules: [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		def, err := rules.Parse(data)
		if err != nil {
			return
		}
		// Whatever parses must compile or fail with an error, never panic.
		set, err := rules.New(def, rules.Options{})
		if err == nil && set == nil {
			t.Fatal("New returned neither a set nor an error")
		}
	})
}
