package volume

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRoutePolicies checks that every rule the route table names, and every rule
// constant the handlers check, is one of Cinder's registered defaults.
func TestRoutePolicies(t *testing.T) {
	s := &Service{cfg: Config{Prefix: "/volume"}}
	defaults := defaultPolicies()
	for _, g := range s.routeGroups() {
		for _, rt := range g {
			if rt.rule == "" {
				continue
			}
			if _, ok := defaults[rt.rule]; !ok {
				t.Errorf("%s %s: rule %q is not registered", rt.method, rt.path, rt.rule)
			}
		}
	}
	// Every rule* string constant of the package.
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			vs, ok := n.(*ast.ValueSpec)
			if !ok {
				return true
			}
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "rule") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				rule, _ := strconv.Unquote(lit.Value)
				if _, ok := defaults[rule]; !ok {
					t.Errorf("%s: %s = %q is not a registered rule", f, name.Name, rule)
				}
			}
			return true
		})
	}
}
