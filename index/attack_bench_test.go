package index

import (
	"fmt"
	"testing"

	"github.com/mediamatch/mediamatch/api/mediamatch"
)

// BenchmarkFreeSpaceCheck measures the free-space check made before each
// write (a statfs).
func BenchmarkFreeSpaceCheck(b *testing.B) {
	ix := openTest(b, "", Options{MinFreeBytes: 1})
	for b.Loop() {
		if err := ix.room(writeRoom, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImportRepeatCheck measures what the check of repeated ids
// costs an import: memory per record (B/op) and time.
func BenchmarkImportRepeatCheck(b *testing.B) {
	ix := openTest(b, "", Options{})
	if _, err := ix.CreateBank(b.Context(), mediamatch.Bank{Name: "b"}); err != nil {
		b.Fatal(err)
	}
	im, err := ix.BeginImport(b.Context(), "b")
	if err != nil {
		b.Fatal(err)
	}
	defer im.Abort()
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = fmt.Sprintf("item-%09d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := im.repeated(ImportRecord{Item: mediamatch.Item{ID: ids[i]}, Line: i + 1}, uint64(i)|1); err != nil {
			b.Fatal(err)
		}
	}
}
