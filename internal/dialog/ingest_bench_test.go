package dialog_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/omnichat/omnichat/internal/apptest"
	"github.com/omnichat/omnichat/internal/dialog"
	"github.com/omnichat/omnichat/providers/example/exampletest"
)

// BenchmarkIngest compares one transaction per webhook with the group commit, without HTTP:
// 64 concurrent callers, 200 visitors. The test cluster runs without fsync, so this isolates
// the statements' cost from the disk flush; docs/performance.md has the durable end-to-end
// figures (omnichat loadtest).
func BenchmarkIngest(b *testing.B) {
	for _, mode := range []string{"simple", "grouped"} {
		b.Run(mode, func(b *testing.B) {
			inst := apptest.Start(b, apptest.Options{NoWorkers: true})
			admin := inst.Admin(b)
			fake := exampletest.NewServer()
			b.Cleanup(fake.Close)
			var created struct {
				ID int64 `json:"id"`
			}
			admin.Must(b, "POST", "/api/v1/channels", map[string]any{"kind": "example", "name": "Bench", "settings": fake.Settings()}, &created)
			ch := dialog.Chan{ID: created.ID, Kind: "example"}
			bt := dialog.NewBatcher(inst.App.Dialogs)
			bt.Off = mode == "simple"
			var seq atomic.Int64
			b.SetParallelism(32) // 64 callers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					evs := message(fmt.Sprintf("b-%d", n), fmt.Sprintf("u-%d", n%200), "benchmark message")
					if _, err := bt.Ingest(context.Background(), ch, evs); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
