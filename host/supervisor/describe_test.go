package supervisor

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestDescribeStartsThePluginReadsItsInfoAndStopsIt(t *testing.T) {
	t.Parallel()
	sum, err := FileSHA256(testPlugin)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Describe(t.Context(), Config{Path: testPlugin})
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "nebula-plugin-probe" || info.Driver != "probe" || info.Version != "0.0.1" || info.SHA256 != sum ||
		info.Protocol < 1 || info.State != StateStopped || info.PID != 0 {
		t.Errorf("Describe = %+v", info)
	}
	if len(info.Types) == 0 || info.Types[0] != "probe" {
		t.Errorf("types %v, want probe first", info.Types)
	}
}

func TestDescribeOfWhatCannotStartSaysWhyAndLeavesNothing(t *testing.T) {
	t.Parallel()
	t.Run("not a plugin", func(t *testing.T) {
		t.Parallel()
		path := writeScript(t, "echo $$ >\"$0.pid\"\nexec sleep 60\n")
		start := time.Now()
		_, err := Describe(t.Context(), Config{Path: path, StartTimeout: 500 * time.Millisecond})
		if !errors.Is(err, ErrStartTimeout) || !strings.Contains(err.Error(), path) {
			t.Fatalf("Describe of a script that never answers: %v", err)
		}
		if elapsed := time.Since(start); elapsed > 10*time.Second {
			t.Errorf("took %v", elapsed)
		}
		pid := readPid(t, path+".pid")
		assertGroupGone(t, pid, "Describe")
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("the script still runs: %v", err)
		}
	})
	t.Run("checksum", func(t *testing.T) {
		t.Parallel()
		_, err := Describe(t.Context(), Config{Path: testPlugin, SHA256: strings.Repeat("0", 64)})
		if !errors.Is(err, ErrChecksumMismatch) {
			t.Errorf("Describe with a wrong checksum: %v", err)
		}
	})
}
