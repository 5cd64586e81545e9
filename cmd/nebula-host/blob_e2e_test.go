package main_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// gib is the size of the large object: 1 GiB.
const gib = 1 << 30

// rssBudget is how much a process may grow while a gibibyte goes through
// it: the s3 plugin holds at most upload_concurrency + 1 parts of 8 MiB,
// the host a few 64 KiB chunks.
const rssBudget = 64 << 20

// A gibibyte goes up and comes back through `nebula-host call` (the admin
// API's chunked HTTP both ways) and through the Go API (Lease.OpenWriter
// and OpenReader, in the examples/objects program), into versitygw, with
// equal SHA-256; the host and the s3 plugin each grow by less than
// rssBudget while it does.
func TestAGibibyteGoesThroughTheCLIAndTheGoAPIInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 4 GiB through the host")
	}
	s3 := newS3Bucket(t)
	dir := t.TempDir()
	addr := freeAddress(t)
	path := writeFile(t, dir, "main.hcl", fmt.Sprintf(`admin {
  address = %q
}

resource "s3" "big" {
  bucket            = %q
  endpoint          = %q
  path_style        = true
  access_key_id     = %q
  secret_access_key = %q
}
`, addr, s3.bucket, s3.endpoint, s3.access, s3.secret))

	t.Run("nebula-host call", func(t *testing.T) {
		h := startHost(t, path, addr)
		hostPID, pluginPID := h.cmd.Process.Pid, h.pluginPID(t, "s3")
		// The plugin and its client have answered once before the baseline.
		mustExit(t, nebula(t, nil, "call", "-addr", addr, "s3.big", "list", `{"limit":1}`), 0, "call list")

		sent := sha256.New()
		var put struct {
			Size   int64  `json:"size"`
			SHA256 string `json:"sha256"`
		}
		growth := whileMeasuring(t, []int{hostPID, pluginPID}, func() {
			out := runCLI(t, io.TeeReader(io.LimitReader(newPattern(1), gib), sent), nil,
				"call", "-addr", addr, "-in", "-", "s3.big", "put", `{"key":"big.bin","checksum":"sha256"}`)
			if err := json.Unmarshal(out, &put); err != nil {
				t.Fatalf("call put printed %q: %v", out, err)
			}
		})
		want := hex.EncodeToString(sent.Sum(nil))
		if put.Size != gib || put.SHA256 != want {
			t.Fatalf("call put: size %d sha256 %s, want %d %s", put.Size, put.SHA256, int64(gib), want)
		}
		checkGrowth(t, "put through nebula-host call", growth, "host", "s3 plugin")

		got := sha256.New()
		growth = whileMeasuring(t, []int{hostPID, pluginPID}, func() {
			runCLI(t, nil, got, "call", "-addr", addr, "-stream", "s3.big", "get", `{"key":"big.bin"}`)
		})
		if sum := hex.EncodeToString(got.Sum(nil)); sum != want {
			t.Fatalf("call get streamed bytes whose SHA-256 is %s, want %s", sum, want)
		}
		checkGrowth(t, "get through nebula-host call", growth, "host", "s3 plugin")
	})

	t.Run("Go API", func(t *testing.T) {
		objects := filepath.Join(t.TempDir(), "objects")
		build := exec.Command("go", "build", "-o", objects, "./examples/objects")
		build.Dir = moduleRoot
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build ./examples/objects: %v\n%s", err, out)
		}
		env := append(os.Environ(), "OBJECTS_BUCKET="+s3.bucket, "S3_ENDPOINT="+s3.endpoint, "S3_PATH_STYLE=true",
			"AWS_ACCESS_KEY_ID="+s3.access, "AWS_SECRET_ACCESS_KEY="+s3.secret, "AWS_REGION=us-east-1")
		command := func(args ...string) *exec.Cmd {
			cmd := exec.Command(objects, append([]string{"-config", filepath.Join(moduleRoot, "examples", "objects", "s3.hcl"),
				"-plugin-dir", filepath.Join(binDir, "plugins")}, args...)...)
			cmd.Env = env
			return cmd
		}

		// put reads its stdin only once its host has started.
		sent := sha256.New()
		put := command("put", "big.bin", "-")
		stdin, err := put.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		put.Stderr = &stderr
		if err := put.Start(); err != nil {
			t.Fatal(err)
		}
		pids := []int{put.Process.Pid, waitChild(t, put.Process.Pid, "nebula-plugin-s3")}
		// The put has begun once its first bytes are in: the processes'
		// sizes then are the baseline, without what starting them took.
		src := io.TeeReader(io.LimitReader(newPattern(2), gib), sent)
		if _, err := io.CopyN(stdin, src, 64<<10); err != nil {
			t.Fatalf("objects put: %v\n%s", err, stderr.String())
		}
		time.Sleep(500 * time.Millisecond)
		growth := whileMeasuring(t, pids, func() {
			_, err := io.Copy(stdin, src)
			if cerr := stdin.Close(); err == nil {
				err = cerr
			}
			if werr := put.Wait(); werr != nil || err != nil {
				t.Fatalf("objects put: %v %v\n%s", werr, err, stderr.String())
			}
		})
		want := hex.EncodeToString(sent.Sum(nil))
		if line := fmt.Sprintf("put big.bin: %d bytes, sha256 %s", gib, want); !strings.Contains(stderr.String(), line) {
			t.Fatalf("objects put printed\n%s\nwant %q", stderr.String(), line)
		}
		checkGrowth(t, "put through Lease.OpenWriter", growth, "host (the program)", "s3 plugin")

		got := sha256.New()
		get := command("get", "big.bin", "-")
		get.Stdout = got
		stderr.Reset()
		get.Stderr = &stderr
		if err := get.Start(); err != nil {
			t.Fatal(err)
		}
		pids = []int{get.Process.Pid, waitChild(t, get.Process.Pid, "nebula-plugin-s3")}
		growth = whileMeasuring(t, pids, func() {
			if err := get.Wait(); err != nil {
				t.Fatalf("objects get: %v\n%s", err, stderr.String())
			}
		})
		if sum := hex.EncodeToString(got.Sum(nil)); sum != want {
			t.Fatalf("objects get wrote bytes whose SHA-256 is %s, want %s", sum, want)
		}
		checkGrowth(t, "get through Lease.OpenReader", growth, "host (the program)", "s3 plugin")
	})
}

// pattern is a fast, deterministic stream of pseudo-random bytes, so that
// a gibibyte need not be held or stored to be checked.
type pattern struct{ r *mrand.ChaCha8 }

func newPattern(seed byte) io.Reader { return pattern{mrand.NewChaCha8([32]byte{seed})} }

func (p pattern) Read(b []byte) (int, error) { return p.r.Read(b) }

// runCLI runs nebula-host with args and stdin. With a stream writer, the
// command's stdout (a streaming call's output) goes to it and runCLI
// returns its stderr (where the call then prints its result); without
// one, it returns its stdout.
func runCLI(t *testing.T, stdin io.Reader, stream io.Writer, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, hostBinary(), args...)
	var stdout, stderr strings.Builder
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	if stream != nil {
		cmd.Stdout = stream
	}
	if err := cmd.Run(); err != nil {
		t.Fatalf("nebula-host %s: %v\nstdout: %.2000s\nstderr: %s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	if stream != nil {
		return []byte(stderr.String())
	}
	return []byte(stdout.String())
}

// whileMeasuring runs fn while it samples the resident set size of each
// process of pids every 20 ms, from before fn starts, and returns each
// one's growth: its peak less its lowest. (A process's size before fn is
// no baseline to subtract from: a program that has just started its host
// may still be handing the memory of its start back to the kernel.)
func whileMeasuring(t *testing.T, pids []int, fn func()) []int64 {
	t.Helper()
	low, peak := make([]int64, len(pids)), make([]int64, len(pids))
	for i, pid := range pids {
		low[i] = rss(t, pid)
		peak[i] = low[i]
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for i, pid := range pids {
				if n, err := rssOf(pid); err == nil && n > 0 {
					low[i], peak[i] = min(low[i], n), max(peak[i], n)
				}
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	growth := make([]int64, len(pids))
	for i := range pids {
		growth[i] = peak[i] - low[i]
	}
	return growth
}

// checkGrowth fails the test when a process grew by rssBudget or more.
func checkGrowth(t *testing.T, what string, growth []int64, names ...string) {
	t.Helper()
	for i, g := range growth {
		t.Logf("%s: the %s grew by %.1f MiB", what, names[i], float64(g)/(1<<20))
		if g >= rssBudget {
			t.Errorf("%s: the %s grew by %.1f MiB, want under %d MiB", what, names[i], float64(g)/(1<<20), rssBudget>>20)
		}
	}
}

// rssOf reads a process's resident set size from /proc/PID/status.
func rssOf(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}

func rss(t *testing.T, pid int) int64 {
	t.Helper()
	n, err := rssOf(pid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitChild returns the PID of the child of parent whose command is name,
// waiting up to 10 s for it to start.
func waitChild(t *testing.T, parent int, name string) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			if strings.TrimSpace(string(comm)) != name[:min(len(name), 15)] {
				continue
			}
			if _, ppid, err := procStat(pid); err == nil && ppid == parent {
				return pid
			}
		}
	}
	t.Fatalf("no %s child of process %d after 10s", name, parent)
	return 0
}

// pluginPID returns the PID of the host's plugin name (GET /v1/plugins).
func (h *hostProcess) pluginPID(t *testing.T, name string) int {
	t.Helper()
	code, body, err := h.get(t, "/v1/plugins")
	if err != nil || code != 200 {
		t.Fatalf("GET /v1/plugins: %d %v\n%s", code, err, body)
	}
	var infos []pluginInfo
	if err := json.Unmarshal([]byte(body), &infos); err != nil {
		t.Fatalf("GET /v1/plugins: %v\n%s", err, body)
	}
	for _, p := range infos {
		if p.Name == name && p.PID > 0 {
			return p.PID
		}
	}
	t.Fatalf("GET /v1/plugins lists no running %s plugin\n%s", name, body)
	return 0
}

// s3Bucket is a bucket of its own on the S3 server of scripts/testenv
// (versitygw), removed with what is in it at the end of the test.
type s3Bucket struct{ endpoint, access, secret, bucket string }

func newS3Bucket(t *testing.T) s3Bucket {
	t.Helper()
	b := s3Bucket{testEnv("NEBULA_S3_ENDPOINT", "http://127.0.0.1:7070"), testEnv("NEBULA_S3_ACCESS_KEY", "nebula-test"),
		testEnv("NEBULA_S3_SECRET_KEY", "nebula-test-secret"), ""}
	c := awss3.New(awss3.Options{Region: "us-east-1", BaseEndpoint: aws.String(b.endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(b.access, b.secret, "")})
	var id [6]byte
	_, _ = rand.Read(id[:])
	b.bucket = "nebula-e2e-" + hex.EncodeToString(id[:])
	if _, err := c.CreateBucket(t.Context(), &awss3.CreateBucketInput{Bucket: &b.bucket}); err != nil {
		t.Fatalf("the S3 server at %s (NEBULA_S3_ENDPOINT) refuses to create a bucket: %v\nRun `scripts/testenv up` (or `make test`) to start it.", b.endpoint, err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		ups, _ := c.ListMultipartUploads(ctx, &awss3.ListMultipartUploadsInput{Bucket: &b.bucket})
		if ups != nil {
			for _, u := range ups.Uploads {
				_, _ = c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: &b.bucket, Key: u.Key, UploadId: u.UploadId})
			}
		}
		objs, _ := c.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: &b.bucket})
		if objs != nil {
			for _, o := range objs.Contents {
				_, _ = c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &b.bucket, Key: o.Key})
			}
		}
		if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &b.bucket}); err != nil {
			t.Errorf("removing bucket %s: %v", b.bucket, err)
		}
	})
	return b
}

// testEnv returns the environment variable name, or def when it is unset.
func testEnv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
