package host_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/nebula-resource/nebula-resource/host"
	"github.com/nebula-resource/nebula-resource/sdk"
)

// lines is a driver whose "find" streams the lines it is given, as a
// document driver streams documents, and then ends as told.
type lines struct {
	docs  []string
	tail  string // written after the documents, without a newline
	fails bool   // the stream ends with unavailable
}

type linesArgs struct{}

type linesInstance struct{ *lines }

func (linesInstance) Check(context.Context) error { return nil }
func (linesInstance) Close(context.Context) error { return nil }

func (l *lines) driver() sdk.Driver {
	return sdk.NewDriver("lines", "1.0.0", sdk.ResourceDef[struct{}, linesInstance]{
		Name: "lines",
		Configure: func(context.Context, string, struct{}) (sdk.Resource, error) {
			return linesResource{l}, nil
		},
		Operations: []sdk.Op[linesInstance]{sdk.NewStreamOp("find", "streams lines", sdk.StreamDownload,
			func(i linesInstance, _ context.Context, _ linesArgs, _ io.Reader, w io.Writer) (sdk.DocStreamResult, error) {
				out := sdk.NewDocumentWriter(w)
				for _, d := range i.docs {
					if err := out.Append(func(dst []byte) ([]byte, error) { return append(dst, d...), nil }); err != nil {
						return sdk.DocStreamResult{}, err
					}
				}
				if err := out.Flush(); err != nil {
					return sdk.DocStreamResult{}, err
				}
				if i.tail != "" {
					_, _ = w.Write([]byte(i.tail))
				}
				if i.fails {
					return sdk.DocStreamResult{}, sdk.Errorf(sdk.KindUnavailable, "the server went away")
				}
				return sdk.DocStreamResult{Count: out.Count()}, nil
			})},
	})
}

type linesResource struct{ *lines }

func (r linesResource) Open(context.Context) (sdk.Instance, error) { return linesInstance(r), nil }
func (linesResource) Close(context.Context) error                  { return nil }

// readDocuments reads a Documents to its end.
func readDocuments(t *testing.T, l *lines) ([]string, *host.Documents, error) {
	t.Helper()
	h := startHost(t, loadHCL(t, `resource "lines" "x" {}`), host.WithDriver("lines", l.driver()), host.WithLogger(quietLogger()))
	var got []string
	var docs *host.Documents
	err := host.Use(t.Context(), h, "lines.x", func(lease *host.Lease) error {
		var err error
		if docs, err = lease.OpenDocuments(t.Context(), "find", nil); err != nil {
			return err
		}
		defer docs.Close()
		for docs.Next() {
			got = append(got, string(docs.Document()))
		}
		return docs.Err()
	})
	return got, docs, err
}

func TestDocumentsReadsEveryDocumentWhateverItsLength(t *testing.T) {
	long := `{"big":"` + strings.Repeat("x", 300<<10) + `"}`
	l := &lines{docs: []string{`{"a":1}`, long, `{}`, `{"b":[1,2]}`}}
	got, docs, err := readDocuments(t, l)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(l.docs) {
		t.Fatalf("%d documents, want %d", len(got), len(l.docs))
	}
	for i := range got {
		if got[i] != l.docs[i] {
			t.Errorf("document %d: %.40s..., want %.40s...", i, got[i], l.docs[i])
		}
	}
	var res sdk.DocStreamResult
	if err := json.Unmarshal(docs.Result(), &res); err != nil || res.Count != 4 {
		t.Errorf("result %s (%v), want count 4", docs.Result(), err)
	}
}

func TestDocumentsEndsWithTheOperationsError(t *testing.T) {
	got, _, err := readDocuments(t, &lines{docs: []string{`{"a":1}`, `{"a":2}`}, fails: true})
	if len(got) != 2 || sdk.KindOf(err) != sdk.KindUnavailable {
		t.Fatalf("%d documents, then %v (kind %s); want 2 then unavailable", len(got), err, sdk.KindOf(err))
	}
}

func TestDocumentsRefusesAStreamCutInTheMiddleOfADocument(t *testing.T) {
	got, _, err := readDocuments(t, &lines{docs: []string{`{"a":1}`}, tail: `{"a":`})
	if len(got) != 1 || sdk.KindOf(err) != sdk.KindInternal || !strings.Contains(err.Error(), "middle") {
		t.Fatalf("%d documents, then %v; want 1 then an error about a document cut in the middle", len(got), err)
	}
}
