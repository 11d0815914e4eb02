package instancetest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"testing"

	"github.com/deviceauth/deviceauth/store"
)

// Faulty embeds store.Store, so a method added to the contract would pass
// through without failing: every method but Watch and Close, and every
// method of the optional interfaces it forwards, must be declared in
// faulty.go.
func TestFaulty_DeclaresEveryStoreMethod(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "faulty.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv != nil {
			declared[fn.Name.Name] = true
		}
	}
	for _, contract := range []reflect.Type{reflect.TypeFor[store.Store](), reflect.TypeFor[store.CycleStore](),
		reflect.TypeFor[store.RecoveryCodeStore](), reflect.TypeFor[store.CeremonyStore]()} {
		for i := range contract.NumMethod() {
			name := contract.Method(i).Name
			if name != "Watch" && name != "Close" && !declared[name] {
				t.Errorf("Faulty does not declare %s.%s: it would pass through while Fail is set", contract.Name(), name)
			}
		}
	}
}
