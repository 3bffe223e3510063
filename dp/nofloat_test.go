package dp

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

// floatFree lists what in a file would bring floating point, or
// non-cryptographic randomness, into package dp: float and complex types,
// float and imaginary literals, the packages math, math/rand and
// math/cmplx, and big.Float or conversions to and from floats.
func floatFree(fset *token.FileSet, f *ast.File) []string {
	var bad []string
	at := func(n ast.Node, what string) {
		bad = append(bad, fset.Position(n.Pos()).String()+": "+what)
	}
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		switch p {
		case "math", "math/rand", "math/rand/v2", "math/cmplx", "strconv":
			at(imp, "imports "+p)
		}
	}
	floatSelectors := map[string]bool{
		"Float": true, "NewFloat": true, "Float32": true, "Float64": true, "SetFloat64": true,
		"ParseFloat": true, "FormatFloat": true, "AppendFloat": true,
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Ident:
			switch n.Name {
			case "float32", "float64", "complex64", "complex128":
				at(n, "uses "+n.Name)
			}
		case *ast.BasicLit:
			if n.Kind == token.FLOAT || n.Kind == token.IMAG {
				at(n, "has the literal "+n.Value)
			}
		case *ast.SelectorExpr:
			if floatSelectors[n.Sel.Name] {
				at(n, "uses ."+n.Sel.Name)
			}
		}
		return true
	})
	return bad
}

// parseDir parses the non-test Go files of dir.
func parseDir(t *testing.T, dir string) (*token.FileSet, map[string]*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*ast.File{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(name)] = f
	}
	return fset, files
}

// TestNoFloatingPoint checks that no non-test file of package dp uses
// floating point: the samplers are exact only if no float enters their
// arithmetic, and the accounting only if it stays in rationals.
func TestNoFloatingPoint(t *testing.T) {
	fset, files := parseDir(t, ".")
	if len(files) == 0 {
		t.Fatal("no files parsed")
	}
	for name, f := range files {
		for _, b := range floatFree(fset, f) {
			t.Errorf("%s: %s", name, b)
		}
	}
}

// TestSamplerPathIsClosed checks that the sampling path is exactly the
// sample*.go files: the samplers are declared there, their types' methods
// all live there, and they call no package-level name declared in another
// file. So TestNoFloatingPoint covers every line a sample runs through in
// this package.
func TestSamplerPathIsClosed(t *testing.T) {
	_, files := parseDir(t, ".")
	sampler := func(name string) bool { return strings.HasPrefix(name, "sample") }
	declaredIn := map[string]string{} // package-level name → file
	samplerTypes := map[string]bool{}
	for name, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					declaredIn[d.Name.Name] = name
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						declaredIn[s.Name.Name] = name
						if sampler(name) {
							samplerTypes[s.Name.Name] = true
						}
					case *ast.ValueSpec:
						for _, id := range s.Names {
							declaredIn[id.Name] = name
						}
					}
				}
			}
		}
	}
	for _, want := range []string{"Sampler", "NewSampler", "Variance", "NewVariance", "LaplaceScale", "NewLaplaceScale"} {
		if !sampler(declaredIn[want]) {
			t.Errorf("%s is declared in %q, not in a sample*.go file", want, declaredIn[want])
		}
	}
	for name, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil {
				continue
			}
			recv := fd.Recv.List[0].Type
			if st, ok := recv.(*ast.StarExpr); ok {
				recv = st.X
			}
			if id, ok := recv.(*ast.Ident); ok && samplerTypes[id.Name] != sampler(name) {
				t.Errorf("%s: method %s.%s is on the wrong side of the sampler path", name, id.Name, fd.Name.Name)
			}
		}
		if !sampler(name) {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			id, ok := n.(*ast.Ident)
			if !ok {
				return true
			}
			if where, ok := declaredIn[id.Name]; ok && !sampler(where) {
				t.Errorf("%s uses %s, declared outside the sampler path in %s", name, id.Name, where)
			}
			return true
		})
	}
	for _, want := range []string{"DiscreteGaussian", "DiscreteLaplace", "BernoulliExp", "Noise"} {
		found := false
		for name, f := range files {
			for _, d := range f.Decls {
				if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv != nil && fd.Name.Name == want {
					found = true
					if !sampler(name) {
						t.Errorf("%s is declared in %s, outside the sampler path", want, name)
					}
				}
			}
		}
		if !found {
			t.Errorf("%s is not declared", want)
		}
	}
}

// The check itself catches each kind of float.
func TestFloatFreeCatches(t *testing.T) {
	for _, src := range []string{
		"package p\nimport \"math\"\nvar x = math.Pi",
		"package p\nvar x float64",
		"package p\nvar x = 1.5",
		"package p\nvar x = 2i",
		"package p\nimport \"math/big\"\nvar x = new(big.Float)",
		"package p\nimport \"math/big\"\nfunc f(r *big.Rat) { r.Float64() }",
		"package p\nimport \"math/rand/v2\"\nvar x = rand.Int()",
		"package p\nfunc f(x int) any { return float32(x) }",
	} {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "x.go", src, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(floatFree(fset, f)) == 0 {
			t.Errorf("floatFree misses floats in:\n%s", src)
		}
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", "package p\nimport \"math/big\"\nvar x = big.NewRat(1, 2).FloatString(3)", 0)
	if err != nil {
		t.Fatal(err)
	}
	if bad := floatFree(fset, f); len(bad) != 0 {
		t.Errorf("floatFree refuses exact rationals: %v", bad)
	}
	if _, err := os.Stat("sample_gaussian.go"); err != nil {
		t.Errorf("the sampler files moved: %v", err)
	}
}
