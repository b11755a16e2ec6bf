// ddit_native: float32 kernels over OpenBLAS for the tfjs wasm backend.
//
// Every operand is passed as (Float32Array, element offset). The arrays are
// usually views of the wasm heap (possibly over a SharedArrayBuffer), so the
// kernels write their results in place and tensors never leave that heap.
// Each entry point checks that every element it touches lies inside the
// array it was given: a wrong offset must throw, never corrupt memory.

#include <napi.h>
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12
// Hot loops get an AVX2/FMA clone picked at load time (ifunc): one build runs
// on any x86-64 and still uses 8-wide vectors where the CPU has them. The
// clone is named by ISA level: GCC resolves "arch=haswell" by CPU model, so
// AMD processors with every Haswell feature got the SSE2 loops (3.5x slower
// GELU on an EPYC), whereas x86-64-v3 is resolved by features.
#define DDIT_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
// Before GCC 12 the resolver knows no ISA levels; AVX2 alone is a feature test.
#define DDIT_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define DDIT_CLONES
#endif
// Helpers of the cloned loops must inline into each clone to vectorise there.
#define DDIT_INLINE inline __attribute__((always_inline))

namespace {

struct View {
  float* data;
  uint64_t length;  // elements
};

bool GetView(const Napi::Env& env, const Napi::Value& value, const char* name, View* out) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    Napi::TypeError::New(env, std::string(name) + " must be a Float32Array").ThrowAsJavaScriptException();
    return false;
  }
  // napi_get_typedarray_info resolves the data pointer for views over both
  // ArrayBuffer and SharedArrayBuffer (the threaded wasm build's heap).
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_status status = napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr);
  if (status != napi_ok || (data == nullptr && length > 0)) {
    Napi::TypeError::New(env, std::string(name) + ": cannot access the array's memory").ThrowAsJavaScriptException();
    return false;
  }
  out->data = static_cast<float*>(data);
  out->length = length;
  return true;
}

bool GetInt(const Napi::Env& env, const Napi::Value& value, const char* name, int64_t min, int64_t* out) {
  if (!value.IsNumber()) {
    Napi::TypeError::New(env, std::string(name) + " must be a number").ThrowAsJavaScriptException();
    return false;
  }
  double d = value.As<Napi::Number>().DoubleValue();
  if (!(d >= static_cast<double>(min)) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<int64_t>(d))) {
    Napi::RangeError::New(env, std::string(name) + " must be an integer >= " + std::to_string(min))
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

// Elements a (rows x cols, leading dimension ld) matrix spans in memory.
int64_t MatrixSpan(int64_t rows, int64_t cols, int64_t ld) {
  if (rows == 0 || cols == 0) return 0;
  return (rows - 1) * ld + cols;
}

bool CheckRange(const Napi::Env& env, const char* name, const View& view, int64_t offset, int64_t span) {
  if (span == 0) return true;
  if (offset + span > static_cast<int64_t>(view.length)) {
    Napi::RangeError::New(env, std::string(name) + ": operand reaches past the end of its array")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

constexpr int64_t kMaxBlasInt = 2147483647;

// Default spin before an idle pool thread sleeps (DDIT_NATIVE_SPIN_US overrides; 0 = sleep at once).
constexpr int64_t kDefaultSpinMicros = 500;

// A small fork-join pool. OpenBLAS runs single-threaded and this pool
// splits work across cores itself: OpenBLAS threads busy-wait between calls
// and parallelise each small GEMM (attention's 96x96x64 products) at a loss,
// whereas splitting rows or batch entries keeps every GEMM whole-core.
// Between tasks a worker spins for a short while before it sleeps on a
// condition variable, and the caller spins before it waits for the workers:
// a training step issues hundreds of native calls in quick succession, and a
// futex wake-up costs tens of microseconds on a virtual machine (measured:
// a small GEMM called between tfjs kernels took 2-3x its warm time).
class Pool {
 public:
  ~Pool() { Resize(1); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void Resize(int threads) {
    threads = std::max(1, std::min(threads, 64));
    {
      std::unique_lock<std::mutex> lock(mu_);
      stop_ = true;
      generation_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    stop_ = false;
    // Workers start from the current generation, so a Run() issued before
    // a new thread first takes the lock still counts for it.
    const uint64_t start = generation_.load();
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, start] { Loop(start); });
  }

  // How long an idle worker, and a caller waiting for workers, spin before they sleep.
  void SetSpinMicros(int64_t us) { spinMicros_.store(std::max<int64_t>(0, us)); }
  int64_t spinMicros() const { return spinMicros_.load(); }

  // Runs task(i) for i in [0, count) on the pool and the calling thread.
  void Run(int64_t count, const std::function<void(int64_t)>& task) {
    if (count <= 0) return;
    if (workers_.empty() || count == 1) {
      for (int64_t i = 0; i < count; ++i) task(i);
      return;
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      task_ = &task;
      count_ = count;
      next_.store(0);
      pending_.store(static_cast<int>(workers_.size()));
      generation_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    Work();
    if (!SpinUntil([this] { return pending_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> lock(mu_);
      done_.wait(lock, [this] { return pending_.load() == 0; });
    }
    task_ = nullptr;
  }

 private:
  // Spins (with a pause hint) until ready() or the spin budget runs out; true if ready.
  template <typename F>
  bool SpinUntil(F&& ready) const {
    const int64_t budget = spinMicros_.load(std::memory_order_relaxed);
    if (ready()) return true;
    if (budget <= 0) return false;
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(budget);
    for (int i = 1;; ++i) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      if (ready()) return true;
      if ((i & 63) == 0) {
        if (std::chrono::steady_clock::now() >= until) return false;
        // More threads than free cores must not starve the thread with the work.
        std::this_thread::yield();
      }
    }
  }

  void Work() {
    for (int64_t i = next_.fetch_add(1); i < count_; i = next_.fetch_add(1)) (*task_)(i);
  }

  void Loop(uint64_t seen) {
    for (;;) {
      SpinUntil([&] { return generation_.load(std::memory_order_acquire) != seen; });
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return generation_.load() != seen; });
        seen = generation_.load();
        if (stop_) return;
      }
      Work();
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        // Under the lock, so that a caller between its check and its wait cannot miss this.
        std::unique_lock<std::mutex> lock(mu_);
        done_.notify_one();
      }
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, done_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> spinMicros_{kDefaultSpinMicros};
  bool stop_ = false;
  const std::function<void(int64_t)>* task_ = nullptr;
  int64_t count_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<int> pending_{0};
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: workers must not outlive a torn-down static
  return *p;
}

// Below this many multiply-adds a GEMM call stays on the calling thread.
constexpr double kParallelMinMacs = 1 << 20;

// gemmBatched(transA, transB, m, n, k, batch, alpha, beta,
//             a, aOffset, lda, strideA, b, bOffset, ldb, strideB,
//             c, cOffset, ldc, strideC)
// C_i = alpha * op(A_i) * op(B_i) + beta * C_i for i in [0, batch), all
// row-major; a stride of 0 broadcasts one matrix to every batch entry.
Napi::Value GemmBatched(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 20) {
    Napi::TypeError::New(env, "gemmBatched expects 20 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const bool transA = info[0].ToBoolean().Value();
  const bool transB = info[1].ToBoolean().Value();
  int64_t m, n, k, batch;
  if (!GetInt(env, info[2], "m", 0, &m) || !GetInt(env, info[3], "n", 0, &n) || !GetInt(env, info[4], "k", 0, &k) ||
      !GetInt(env, info[5], "batch", 0, &batch)) {
    return env.Undefined();
  }
  if (!info[6].IsNumber() || !info[7].IsNumber()) {
    Napi::TypeError::New(env, "alpha and beta must be numbers").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const float alpha = static_cast<float>(info[6].As<Napi::Number>().DoubleValue());
  const float beta = static_cast<float>(info[7].As<Napi::Number>().DoubleValue());
  View a, b, c;
  int64_t aOff, lda, sA, bOff, ldb, sB, cOff, ldc, sC;
  if (!GetView(env, info[8], "a", &a) || !GetInt(env, info[9], "aOffset", 0, &aOff) ||
      !GetInt(env, info[10], "lda", 1, &lda) || !GetInt(env, info[11], "strideA", 0, &sA) ||
      !GetView(env, info[12], "b", &b) || !GetInt(env, info[13], "bOffset", 0, &bOff) ||
      !GetInt(env, info[14], "ldb", 1, &ldb) || !GetInt(env, info[15], "strideB", 0, &sB) ||
      !GetView(env, info[16], "c", &c) || !GetInt(env, info[17], "cOffset", 0, &cOff) ||
      !GetInt(env, info[18], "ldc", 1, &ldc) || !GetInt(env, info[19], "strideC", 0, &sC)) {
    return env.Undefined();
  }
  if (m == 0 || n == 0 || batch == 0) return env.Undefined();
  // Row-major storage: op(A) is m x k, stored as m x k (or k x m when transposed).
  const int64_t aRows = transA ? k : m, aCols = transA ? m : k;
  const int64_t bRows = transB ? n : k, bCols = transB ? k : n;
  if (lda < aCols || ldb < bCols || ldc < n) {
    Napi::RangeError::New(env, "a leading dimension is smaller than its row length").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (m > kMaxBlasInt || n > kMaxBlasInt || k > kMaxBlasInt || lda > kMaxBlasInt || ldb > kMaxBlasInt ||
      ldc > kMaxBlasInt) {
    Napi::RangeError::New(env, "matrix dimensions exceed the BLAS integer range").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int64_t last = batch - 1;
  if (!CheckRange(env, "a", a, aOff, k == 0 ? 0 : last * sA + MatrixSpan(aRows, aCols, lda)) ||
      !CheckRange(env, "b", b, bOff, k == 0 ? 0 : last * sB + MatrixSpan(bRows, bCols, ldb)) ||
      !CheckRange(env, "c", c, cOff, last * sC + MatrixSpan(m, n, ldc))) {
    return env.Undefined();
  }
  if (sC == 0 && batch > 1) {
    Napi::RangeError::New(env, "strideC must be non-zero when batch > 1").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const CBLAS_TRANSPOSE ta = transA ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = transB ? CblasTrans : CblasNoTrans;
  float* const A = a.data + aOff;
  float* const B = b.data + bOff;
  float* const C = c.data + cOff;
  // One GEMM on rows [r0, r1) and columns [c0, c1) of C for batch entry i.
  auto gemm = [&](int64_t i, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
    float* ci = C + i * sC + r0 * ldc + c0;
    const int64_t rows = r1 - r0, cols = c1 - c0;
    if (k == 0) {
      // BLAS leaves C untouched for k == 0 only when beta == 1; spell it out.
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t j = 0; j < cols; ++j) ci[r * ldc + j] = beta == 0.0f ? 0.0f : beta * ci[r * ldc + j];
      }
      return;
    }
    const float* ai = A + i * sA + (transA ? r0 : r0 * lda);
    const float* bi = B + i * sB + (transB ? c0 * ldb : c0);
    cblas_sgemm(CblasRowMajor, ta, tb, static_cast<int>(rows), static_cast<int>(cols), static_cast<int>(k), alpha,
                ai, static_cast<int>(lda), bi, static_cast<int>(ldb), beta, ci, static_cast<int>(ldc));
  };
  const int threads = pool().size();
  const double macs = static_cast<double>(batch) * static_cast<double>(m) * static_cast<double>(n) *
                      static_cast<double>(std::max<int64_t>(k, 1));
  if (threads == 1 || macs < kParallelMinMacs) {
    for (int64_t i = 0; i < batch; ++i) gemm(i, 0, m, 0, n);
  } else if (batch >= threads) {
    // Whole matrices per task, in contiguous runs of the batch.
    const int64_t tasks = std::min<int64_t>(batch, threads * 4);
    pool().Run(tasks, [&](int64_t t) {
      for (int64_t i = batch * t / tasks; i < batch * (t + 1) / tasks; ++i) gemm(i, 0, m, 0, n);
    });
  } else {
    // Split each matrix along its longer output side into panels of whole
    // 16-element blocks (so every panel keeps BLAS-friendly sizes).
    const int64_t parts = (threads + batch - 1) / batch;
    const bool byRows = m >= n;
    const int64_t len = byRows ? m : n;
    const int64_t blocks = (len + 15) / 16;
    const int64_t used = std::min(parts, blocks);
    pool().Run(batch * used, [&](int64_t t) {
      const int64_t i = t / used, p = t % used;
      const int64_t s0 = std::min(len, blocks * p / used * 16), s1 = std::min(len, blocks * (p + 1) / used * 16);
      if (s0 >= s1) return;
      if (byRows) gemm(i, s0, s1, 0, n);
      else gemm(i, 0, m, s0, s1);
    });
  }
  return env.Undefined();
}


// ---------------------------------------------------------------- elementwise

// Splits [0, n) into chunks of at least kMinChunk elements across the pool.
constexpr int64_t kMinChunk = 1 << 15;

// minItems: the fewest items worth a chunk of their own.
template <typename F>
void ParallelRange(int64_t n, F&& body, int64_t minItems = kMinChunk) {
  const int threads = pool().size();
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(threads * 4, n / std::max<int64_t>(minItems, 1)));
  if (chunks == 1) {
    body(0, n);
    return;
  }
  pool().Run(chunks, [&](int64_t t) { body(n * t / chunks, n * (t + 1) / chunks); });
}

bool GetFloat(const Napi::Env& env, const Napi::Value& value, const char* name, double* out) {
  if (!value.IsNumber()) {
    Napi::TypeError::New(env, std::string(name) + " must be a number").ThrowAsJavaScriptException();
    return false;
  }
  *out = value.As<Napi::Number>().DoubleValue();
  return true;
}

// An operand of n elements: (Float32Array, offset) checked to hold [offset, offset + n).
bool GetSpan(const Napi::CallbackInfo& info, size_t at, const char* name, int64_t n, float** out) {
  Napi::Env env = info.Env();
  View view;
  int64_t off;
  if (!GetView(env, info[at], name, &view) || !GetInt(env, info[at + 1], name, 0, &off) ||
      !CheckRange(env, name, view, off, n)) {
    return false;
  }
  *out = view.data + off;
  return true;
}

// Throws a TypeError naming the entry point unless it got exactly `expected` arguments.
bool ExpectArgs(const Napi::CallbackInfo& info, size_t expected, const char* name) {
  if (info.Length() == expected) return true;
  Napi::TypeError::New(info.Env(), std::string(name) + " expects " + std::to_string(expected) + " arguments")
      .ThrowAsJavaScriptException();
  return false;
}

// adamw(n, w, wOff, wOut, wOutOff, g, gOff, m, mOff, v, vOff, lr, beta1, beta2, eps, weightDecay, bc1, bc2,
//       gradScale)
// One decoupled-weight-decay Adam step (PyTorch's AdamW rule); m and v are
// updated in place, the new weights go to wOut (which may be w itself):
//   g' = gradScale*g;  m = b1*m + (1-b1)*g';  v = b2*v + (1-b2)*g'^2
//   w = w*(1 - lr*wd) - (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps)
struct AdamWParams {
  float b1, a1, b2, a2, decay, step, invSqrtBc2, eps, scale;
};

DDIT_CLONES void AdamWRange(const float* w, float* wOut, const float* g, float* m, float* v, const AdamWParams& p,
                            int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; ++i) {
    const float gi = g[i] * p.scale;
    const float mi = p.b1 * m[i] + p.a1 * gi;
    const float vi = p.b2 * v[i] + p.a2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    wOut[i] = w[i] * p.decay - p.step * mi / (std::sqrt(vi) * p.invSqrtBc2 + p.eps);
  }
}

Napi::Value AdamW(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 19) {
    Napi::TypeError::New(env, "adamw expects 19 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int64_t n;
  float *w, *wOut, *g, *m, *v;
  double lr, b1, b2, eps, wd, bc1, bc2, scale;
  if (!GetInt(env, info[0], "n", 0, &n) || !GetSpan(info, 1, "w", n, &w) || !GetSpan(info, 3, "wOut", n, &wOut) ||
      !GetSpan(info, 5, "g", n, &g) || !GetSpan(info, 7, "m", n, &m) || !GetSpan(info, 9, "v", n, &v) ||
      !GetFloat(env, info[11], "lr", &lr) || !GetFloat(env, info[12], "beta1", &b1) ||
      !GetFloat(env, info[13], "beta2", &b2) || !GetFloat(env, info[14], "eps", &eps) ||
      !GetFloat(env, info[15], "weightDecay", &wd) || !GetFloat(env, info[16], "bc1", &bc1) ||
      !GetFloat(env, info[17], "bc2", &bc2) || !GetFloat(env, info[18], "gradScale", &scale)) {
    return env.Undefined();
  }
  AdamWParams p;
  p.b1 = static_cast<float>(b1);
  p.a1 = static_cast<float>(1 - b1);
  p.b2 = static_cast<float>(b2);
  p.a2 = static_cast<float>(1 - b2);
  p.decay = static_cast<float>(1 - lr * wd);
  p.step = static_cast<float>(lr / bc1);
  p.invSqrtBc2 = static_cast<float>(1 / std::sqrt(bc2));
  p.eps = static_cast<float>(eps);
  p.scale = static_cast<float>(scale);
  ParallelRange(n, [&](int64_t lo, int64_t hi) { AdamWRange(w, wOut, g, m, v, p, lo, hi); });
  return env.Undefined();
}

// emaUpdate(n, s, sOff, w, wOff, decay): s = decay*s + (1-decay)*w in place,
// the exponential moving average of the weights after an optimiser step.
DDIT_CLONES void EmaRange(float* s, const float* w, float d, float a, int64_t lo, int64_t hi) {
  for (int64_t i = lo; i < hi; ++i) s[i] = s[i] * d + w[i] * a;
}

Napi::Value EmaUpdate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ExpectArgs(info, 6, "emaUpdate")) return env.Undefined();
  int64_t n;
  float *s, *w;
  double decay;
  if (!GetInt(env, info[0], "n", 0, &n) || !GetSpan(info, 1, "s", n, &s) || !GetSpan(info, 3, "w", n, &w) ||
      !GetFloat(env, info[5], "decay", &decay)) {
    return env.Undefined();
  }
  const float d = static_cast<float>(decay);
  const float a = static_cast<float>(1 - decay);
  ParallelRange(n, [&](int64_t lo, int64_t hi) { EmaRange(s, w, d, a, lo, hi); });
  return env.Undefined();
}

// Blocks of float sums keep the loop vectorisable; the block totals go to double.
DDIT_CLONES double SumSquaresRange(const float* x, int64_t lo, int64_t hi) {
  double acc = 0;
  for (int64_t i0 = lo; i0 < hi; i0 += 1024) {
    float part = 0;
    const int64_t i1 = std::min(hi, i0 + 1024);
#pragma omp simd reduction(+ : part)
    for (int64_t i = i0; i < i1; ++i) part += x[i] * x[i];
    acc += part;
  }
  return acc;
}

// sumSquares(n, x, xOff) -> sum of x[i]^2, accumulated in double.
Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t n;
  float* x;
  if (info.Length() != 3 || !GetInt(env, info[0], "n", 0, &n) || !GetSpan(info, 1, "x", n, &x)) {
    return env.Undefined();
  }
  std::mutex mu;
  double total = 0;
  ParallelRange(n, [&](int64_t lo, int64_t hi) {
    const double acc = SumSquaresRange(x, lo, hi);
    std::lock_guard<std::mutex> lock(mu);
    total += acc;
  });
  return Napi::Number::New(env, total);
}


DDIT_CLONES void RowSums(const float* x, float* out, int64_t mid, int64_t lo, int64_t hi) {
  for (int64_t o = lo; o < hi; ++o) {
    const float* row = x + o * mid;
    float acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t m = 0; m < mid; ++m) acc += row[m];
    out[o] = acc;
  }
}

// dst[i] = sum over m of src[m*inner + i], for columns i in [c0, c1).
DDIT_CLONES void ColumnSums(const float* src, float* dst, int64_t mid, int64_t inner, int64_t c0, int64_t c1) {
  for (int64_t i = c0; i < c1; ++i) dst[i] = 0;
  for (int64_t m = 0; m < mid; ++m) {
    const float* r = src + m * inner;
    for (int64_t i = c0; i < c1; ++i) dst[i] += r[i];
  }
}

// reduceSum(outer, mid, inner, x, xOff, out, outOff):
//   out[o*inner + i] = sum over m of x[(o*mid + m)*inner + i]
// i.e. a sum over one contiguous block of axes; covers leading axes (outer = 1,
// the bias gradient), trailing axes (inner = 1) and a middle block.
Napi::Value ReduceSum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t outer, mid, inner;
  if (info.Length() != 7 || !GetInt(env, info[0], "outer", 0, &outer) || !GetInt(env, info[1], "mid", 0, &mid) ||
      !GetInt(env, info[2], "inner", 0, &inner)) {
    if (!env.IsExceptionPending()) Napi::TypeError::New(env, "reduceSum expects 7 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  float *x, *out;
  if (!GetSpan(info, 3, "x", outer * mid * inner, &x) || !GetSpan(info, 5, "out", outer * inner, &out)) {
    return env.Undefined();
  }
  if (inner == 1) {
    // Row sums: each row is contiguous.
    ParallelRange(
        outer,
        [&](int64_t lo, int64_t hi) { RowSums(x, out, mid, lo, hi); }, kMinChunk / std::max<int64_t>(mid, 1));
    return env.Undefined();
  }
  // Tasks are (outer index, run of inner columns); each adds its rows into its
  // slice of out, so tasks never share output.
  const int64_t colBlock = std::max<int64_t>(64, inner / (pool().size() * 2) + 1);
  const int64_t colTasks = (inner + colBlock - 1) / colBlock;
  auto task = [&](int64_t t) {
    const int64_t o = t / colTasks, c0 = (t % colTasks) * colBlock, c1 = std::min(inner, c0 + colBlock);
    ColumnSums(x + o * mid * inner, out + o * inner, mid, inner, c0, c1);
  };
  const int64_t tasks = outer * colTasks;
  if (outer * mid * inner < kMinChunk) {
    for (int64_t t = 0; t < tasks; ++t) task(t);
  } else {
    pool().Run(tasks, task);
  }
  return env.Undefined();
}


// ---------------------------------------------------------------- fused activations and norms

// e^x for float32 without a libm call, so loops over it vectorise: range
// reduction x = n*ln2 + r (|r| <= ln2/2), a degree-6 Taylor polynomial for e^r
// (relative error ~1e-7) and 2^n built in the exponent bits. x is clamped to
// the normal float range, which is all the sigmoid below needs.
DDIT_INLINE float ExpApprox(float x) {
  x = x > 88.7f ? 88.7f : x;
  x = x < -87.3f ? -87.3f : x;
  const float t = x * 1.44269504f;
  const float n = (t + 12582912.0f) - 12582912.0f;  // round to nearest (1.5*2^23 trick)
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;  // ln2 in two parts (Cephes)
  float p = 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// GELU with the tanh approximation in its sigmoid form:
//   gelu(x) = x*s(u), u = k*(x + c*x^3), s = sigmoid, k = 2*sqrt(2/pi), c = 0.044715
constexpr float kGeluK = 1.5957691216057308f;
constexpr float kGeluC = 0.044715f;

DDIT_CLONES void GeluRange(const float* x, float* y, int64_t lo, int64_t hi) {
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) {
    const float v = x[i];
    const float u = kGeluK * (v + kGeluC * v * v * v);
    y[i] = v / (1.0f + ExpApprox(-u));
  }
}

// d gelu/dx = s + x*s*(1-s)*k*(1 + 3c*x^2)
DDIT_CLONES void GeluGradRange(const float* dy, const float* x, float* dx, int64_t lo, int64_t hi) {
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) {
    const float v = x[i];
    const float u = kGeluK * (v + kGeluC * v * v * v);
    const float sg = 1.0f / (1.0f + ExpApprox(-u));
    const float du = kGeluK * (1.0f + 3.0f * kGeluC * v * v);
    dx[i] = dy[i] * (sg + v * sg * (1.0f - sg) * du);
  }
}

// geluTanh(n, x, xOff, y, yOff)
Napi::Value Gelu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t n;
  float *x, *y;
  if (info.Length() != 5 || !GetInt(env, info[0], "n", 0, &n) || !GetSpan(info, 1, "x", n, &x) ||
      !GetSpan(info, 3, "y", n, &y)) {
    if (!env.IsExceptionPending()) Napi::TypeError::New(env, "geluTanh expects 5 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ParallelRange(n, [&](int64_t lo, int64_t hi) { GeluRange(x, y, lo, hi); });
  return env.Undefined();
}

// geluTanhGrad(n, dy, dyOff, x, xOff, dx, dxOff)
Napi::Value GeluGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t n;
  float *dy, *x, *dx;
  if (info.Length() != 7 || !GetInt(env, info[0], "n", 0, &n) || !GetSpan(info, 1, "dy", n, &dy) ||
      !GetSpan(info, 3, "x", n, &x) || !GetSpan(info, 5, "dx", n, &dx)) {
    if (!env.IsExceptionPending()) Napi::TypeError::New(env, "geluTanhGrad expects 7 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ParallelRange(n, [&](int64_t lo, int64_t hi) { GeluGradRange(dy, x, dx, lo, hi); });
  return env.Undefined();
}

// Mean and 1/sqrt(var + eps) of one row (biased variance, two passes).
DDIT_INLINE void RowStats(const float* row, int64_t cols, float eps, float* mean, float* rstd) {
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < cols; ++j) sum += row[j];
  const float mu = sum / static_cast<float>(cols);
  float sq = 0;
#pragma omp simd reduction(+ : sq)
  for (int64_t j = 0; j < cols; ++j) sq += (row[j] - mu) * (row[j] - mu);
  *mean = mu;
  *rstd = 1.0f / std::sqrt(sq / static_cast<float>(cols) + eps);
}

DDIT_CLONES void LayerNormRows(const float* x, float* y, int64_t cols, float eps, int64_t lo, int64_t hi) {
  for (int64_t r = lo; r < hi; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float mu, rs;
    RowStats(xr, cols, eps, &mu, &rs);
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - mu) * rs;
  }
}

DDIT_CLONES void LayerNormGradRows(const float* dy, const float* x, float* dx, int64_t cols, float eps, int64_t lo,
                                   int64_t hi) {
  const float inv = 1.0f / static_cast<float>(cols);
  for (int64_t r = lo; r < hi; ++r) {
    const float* xr = x + r * cols;
    const float* gr = dy + r * cols;
    float* dr = dx + r * cols;
    float mu, rs;
    RowStats(xr, cols, eps, &mu, &rs);
    float sg = 0, sgh = 0;
#pragma omp simd reduction(+ : sg, sgh)
    for (int64_t j = 0; j < cols; ++j) {
      sg += gr[j];
      sgh += gr[j] * (xr[j] - mu) * rs;
    }
    const float mg = sg * inv, mgh = sgh * inv;
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) dr[j] = rs * (gr[j] - mg - (xr[j] - mu) * rs * mgh);
  }
}

bool GetNormArgs(const Napi::CallbackInfo& info, size_t expected, const char* name, int64_t* rows, int64_t* cols,
                 float* eps) {
  Napi::Env env = info.Env();
  double e;
  if (!ExpectArgs(info, expected, name)) return false;
  if (!GetInt(env, info[0], "rows", 0, rows) || !GetInt(env, info[1], "cols", 1, cols) ||
      !GetFloat(env, info[2], "eps", &e)) {
    return false;
  }
  *eps = static_cast<float>(e);
  return true;
}

// layerNorm(rows, cols, eps, x, xOff, y, yOff): y = (x - mean)/sqrt(var + eps) per row, no affine.
Napi::Value LayerNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t rows, cols;
  float eps;
  float *x, *y;
  if (!GetNormArgs(info, 7, "layerNorm", &rows, &cols, &eps) || !GetSpan(info, 3, "x", rows * cols, &x) ||
      !GetSpan(info, 5, "y", rows * cols, &y)) {
    return env.Undefined();
  }
  ParallelRange(
      rows,
      [&](int64_t lo, int64_t hi) { LayerNormRows(x, y, cols, eps, lo, hi); }, kMinChunk / cols);
  return env.Undefined();
}

// layerNormGrad(rows, cols, eps, dy, dyOff, x, xOff, dx, dxOff), with h = (x - mean)*rstd:
//   dx = rstd * (dy - mean(dy) - h * mean(dy * h))
Napi::Value LayerNormGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t rows, cols;
  float eps;
  float *dy, *x, *dx;
  if (!GetNormArgs(info, 9, "layerNormGrad", &rows, &cols, &eps) || !GetSpan(info, 3, "dy", rows * cols, &dy) ||
      !GetSpan(info, 5, "x", rows * cols, &x) || !GetSpan(info, 7, "dx", rows * cols, &dx)) {
    return env.Undefined();
  }
  ParallelRange(
      rows, [&](int64_t lo, int64_t hi) { LayerNormGradRows(dy, x, dx, cols, eps, lo, hi); }, kMinChunk / cols);
  return env.Undefined();
}


// ---------------------------------------------------------------- adaLN and gated residuals
// Token tensors are [B, T, D] (rows b*T + t); per-sample vectors are [B, D].

// y[b,t] = LN(x[b,t]) * (1 + scale[b]) + shift[b]
DDIT_CLONES void AdaLayerNormSamples(const float* x, const float* shift, const float* scale, float* y, int64_t T,
                                     int64_t D, float eps, int64_t b0, int64_t b1) {
  for (int64_t b = b0; b < b1; ++b) {
    const float* sh = shift + b * D;
    const float* sc = scale + b * D;
    for (int64_t t = 0; t < T; ++t) {
      const float* xr = x + (b * T + t) * D;
      float* yr = y + (b * T + t) * D;
      float mu, rs;
      RowStats(xr, D, eps, &mu, &rs);
#pragma omp simd
      for (int64_t j = 0; j < D; ++j) yr[j] = (xr[j] - mu) * rs * (1.0f + sc[j]) + sh[j];
    }
  }
}

// With h = LN(x) and g = dy*(1 + scale): dx = rstd*(g - mean(g) - h*mean(g*h)),
// dscale[b] = sum_t dy*h, dshift[b] = sum_t dy.
DDIT_CLONES void AdaLayerNormGradSamples(const float* dy, const float* x, const float* scale, float* dx,
                                         float* dscale, float* dshift, float* g, int64_t T, int64_t D, float eps,
                                         int64_t b0, int64_t b1) {
  const float inv = 1.0f / static_cast<float>(D);
  for (int64_t b = b0; b < b1; ++b) {
    const float* sc = scale + b * D;
    float* dsc = dscale + b * D;
    float* dsh = dshift + b * D;
    for (int64_t j = 0; j < D; ++j) dsc[j] = dsh[j] = 0;
    for (int64_t t = 0; t < T; ++t) {
      const float* xr = x + (b * T + t) * D;
      const float* dr = dy + (b * T + t) * D;
      float* out = dx + (b * T + t) * D;
      float mu, rs;
      RowStats(xr, D, eps, &mu, &rs);
      float sg = 0, sgh = 0;
#pragma omp simd reduction(+ : sg, sgh)
      for (int64_t j = 0; j < D; ++j) {
        const float h = (xr[j] - mu) * rs;
        g[j] = dr[j] * (1.0f + sc[j]);
        sg += g[j];
        sgh += g[j] * h;
        dsc[j] += dr[j] * h;
        dsh[j] += dr[j];
      }
      const float mg = sg * inv, mgh = sgh * inv;
#pragma omp simd
      for (int64_t j = 0; j < D; ++j) out[j] = rs * (g[j] - mg - (xr[j] - mu) * rs * mgh);
    }
  }
}

// z[b,t] = x[b,t] + gate[b] * y[b,t]
DDIT_CLONES void GatedAddSamples(const float* x, const float* gate, const float* y, float* z, int64_t T, int64_t D,
                                 int64_t b0, int64_t b1) {
  for (int64_t b = b0; b < b1; ++b) {
    const float* gt = gate + b * D;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t o = (b * T + t) * D;
#pragma omp simd
      for (int64_t j = 0; j < D; ++j) z[o + j] = x[o + j] + gt[j] * y[o + j];
    }
  }
}

// dy_y[b,t] = dz[b,t] * gate[b]; dgate[b] = sum_t dz[b,t] * y[b,t]
DDIT_CLONES void GatedAddGradSamples(const float* dz, const float* gate, const float* y, float* dyOut, float* dgate,
                                     int64_t T, int64_t D, int64_t b0, int64_t b1) {
  for (int64_t b = b0; b < b1; ++b) {
    const float* gt = gate + b * D;
    float* dg = dgate + b * D;
    for (int64_t j = 0; j < D; ++j) dg[j] = 0;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t o = (b * T + t) * D;
#pragma omp simd
      for (int64_t j = 0; j < D; ++j) {
        dyOut[o + j] = dz[o + j] * gt[j];
        dg[j] += dz[o + j] * y[o + j];
      }
    }
  }
}

bool GetSampleDims(const Napi::CallbackInfo& info, size_t expected, const char* name, int64_t* B, int64_t* T,
                   int64_t* D) {
  Napi::Env env = info.Env();
  if (!ExpectArgs(info, expected, name)) return false;
  return GetInt(env, info[0], "B", 0, B) && GetInt(env, info[1], "T", 0, T) && GetInt(env, info[2], "D", 1, D);
}

// Samples per task: enough rows to be worth a thread.
int64_t SampleGrain(int64_t T, int64_t D) { return std::max<int64_t>(1, kMinChunk / std::max<int64_t>(1, T * D)); }

// adaLayerNorm(B, T, D, eps, x, xOff, shift, shiftOff, scale, scaleOff, y, yOff)
Napi::Value AdaLayerNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t B, T, D;
  double eps;
  float *x, *shift, *scale, *y;
  if (!GetSampleDims(info, 12, "adaLayerNorm", &B, &T, &D) || !GetFloat(env, info[3], "eps", &eps) ||
      !GetSpan(info, 4, "x", B * T * D, &x) || !GetSpan(info, 6, "shift", B * D, &shift) ||
      !GetSpan(info, 8, "scale", B * D, &scale) || !GetSpan(info, 10, "y", B * T * D, &y)) {
    return env.Undefined();
  }
  const float e = static_cast<float>(eps);
  ParallelRange(
      B, [&](int64_t lo, int64_t hi) { AdaLayerNormSamples(x, shift, scale, y, T, D, e, lo, hi); },
      SampleGrain(T, D));
  return env.Undefined();
}

// adaLayerNormGrad(B, T, D, eps, dy, dyOff, x, xOff, scale, scaleOff, dx, dxOff, dscale, dscaleOff, dshift, dshiftOff)
Napi::Value AdaLayerNormGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t B, T, D;
  double eps;
  float *dy, *x, *scale, *dx, *dscale, *dshift;
  if (!GetSampleDims(info, 16, "adaLayerNormGrad", &B, &T, &D) || !GetFloat(env, info[3], "eps", &eps) ||
      !GetSpan(info, 4, "dy", B * T * D, &dy) || !GetSpan(info, 6, "x", B * T * D, &x) ||
      !GetSpan(info, 8, "scale", B * D, &scale) || !GetSpan(info, 10, "dx", B * T * D, &dx) ||
      !GetSpan(info, 12, "dscale", B * D, &dscale) || !GetSpan(info, 14, "dshift", B * D, &dshift)) {
    return env.Undefined();
  }
  const float e = static_cast<float>(eps);
  ParallelRange(
      B,
      [&](int64_t lo, int64_t hi) {
        std::vector<float> g(static_cast<size_t>(D));
        AdaLayerNormGradSamples(dy, x, scale, dx, dscale, dshift, g.data(), T, D, e, lo, hi);
      },
      SampleGrain(T, D));
  return env.Undefined();
}

// gatedAdd(B, T, D, x, xOff, gate, gateOff, y, yOff, z, zOff)
Napi::Value GatedAdd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t B, T, D;
  float *x, *gate, *y, *z;
  if (!GetSampleDims(info, 11, "gatedAdd", &B, &T, &D) || !GetSpan(info, 3, "x", B * T * D, &x) ||
      !GetSpan(info, 5, "gate", B * D, &gate) || !GetSpan(info, 7, "y", B * T * D, &y) ||
      !GetSpan(info, 9, "z", B * T * D, &z)) {
    return env.Undefined();
  }
  ParallelRange(
      B, [&](int64_t lo, int64_t hi) { GatedAddSamples(x, gate, y, z, T, D, lo, hi); }, SampleGrain(T, D));
  return env.Undefined();
}

// gatedAddGrad(B, T, D, dz, dzOff, gate, gateOff, y, yOff, dy, dyOff, dgate, dgateOff)
Napi::Value GatedAddGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t B, T, D;
  float *dz, *gate, *y, *dy, *dgate;
  if (!GetSampleDims(info, 13, "gatedAddGrad", &B, &T, &D) || !GetSpan(info, 3, "dz", B * T * D, &dz) ||
      !GetSpan(info, 5, "gate", B * D, &gate) || !GetSpan(info, 7, "y", B * T * D, &y) ||
      !GetSpan(info, 9, "dy", B * T * D, &dy) || !GetSpan(info, 11, "dgate", B * D, &dgate)) {
    return env.Undefined();
  }
  ParallelRange(
      B, [&](int64_t lo, int64_t hi) { GatedAddGradSamples(dz, gate, y, dy, dgate, T, D, lo, hi); },
      SampleGrain(T, D));
  return env.Undefined();
}


// ---------------------------------------------------------------- attention
// Multi-head attention straight on token-major tensors: q [B, Lq, H*dh],
// k [B, Lk, H*dh], v [B, Lk, H*dv], out [B, Lq, H*dv]. Head h of sample b is
// the column block h*dh of rows b*L.., read by BLAS with a leading dimension
// of H*dh, so no head transposes are made either way. Written from tfjs ops
// the same attention takes ~12 kernels forward and ~20 backward.

// Per-thread scratch that keeps its capacity between calls, so a task neither allocates nor zero-fills.
// A task uses one scratch block at a time and pool tasks never nest.
float* Scratch(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// Row softmax in place, with the optional bias row added first.
DDIT_CLONES void SoftmaxRows(float* s, const float* bias, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = s + r * cols;
    if (bias != nullptr) {
      const float* br = bias + r * cols;
#pragma omp simd
      for (int64_t j = 0; j < cols; ++j) row[j] += br[j];
    }
    float mx = row[0];
    for (int64_t j = 1; j < cols; ++j) mx = std::max(mx, row[j]);
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < cols; ++j) {
      row[j] = ExpApprox(row[j] - mx);
      sum += row[j];
    }
    const float inv = 1.0f / sum;
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) row[j] *= inv;
  }
}

// dS = P * (dP - rowsum(dP * P)), in place over dP.
DDIT_CLONES void SoftmaxGradRows(const float* p, float* dp, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* pr = p + r * cols;
    float* dr = dp + r * cols;
    float dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < cols; ++j) dot += pr[j] * dr[j];
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) dr[j] = pr[j] * (dr[j] - dot);
  }
}

struct AttnDims {
  int64_t B, H, Lq, Lk, dh, dv;
  float scale;
};

bool GetAttnDims(const Napi::CallbackInfo& info, size_t expected, const char* name, AttnDims* d) {
  Napi::Env env = info.Env();
  if (!ExpectArgs(info, expected, name)) return false;
  double scale;
  if (!GetInt(env, info[0], "B", 0, &d->B) || !GetInt(env, info[1], "H", 1, &d->H) ||
      !GetInt(env, info[2], "Lq", 1, &d->Lq) || !GetInt(env, info[3], "Lk", 1, &d->Lk) ||
      !GetInt(env, info[4], "dh", 1, &d->dh) || !GetInt(env, info[5], "dv", 1, &d->dv) ||
      !GetFloat(env, info[6], "scale", &scale)) {
    return false;
  }
  if (d->H * std::max(d->dh, d->dv) > kMaxBlasInt || d->Lq > kMaxBlasInt || d->Lk > kMaxBlasInt) {
    Napi::RangeError::New(env, std::string(name) + ": dimensions exceed the BLAS integer range")
        .ThrowAsJavaScriptException();
    return false;
  }
  d->scale = static_cast<float>(scale);
  return true;
}

// An optional operand: null or undefined means absent.
bool GetOptionalSpan(const Napi::CallbackInfo& info, size_t at, const char* name, int64_t n, float** out) {
  if (info[at].IsNull() || info[at].IsUndefined()) {
    *out = nullptr;
    return true;
  }
  return GetSpan(info, at, name, n, out);
}

// attention(B, H, Lq, Lk, dh, dv, scale, q, qOff, k, kOff, v, vOff, bias | null, biasOff, out, outOff, p, pOff):
//   p[b,h] = softmax(scale * q_bh k_bh^T + bias[h]) ([B, H, Lq, Lk], kept for the gradient); out_bh = p[b,h] v_bh.
Napi::Value Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AttnDims d;
  float *q, *k, *v, *bias, *out, *p;
  if (!GetAttnDims(info, 19, "attention", &d)) return env.Undefined();
  const int64_t B = d.B, H = d.H, Lq = d.Lq, Lk = d.Lk, ldk = H * d.dh, ldv = H * d.dv;
  if (!GetSpan(info, 7, "q", B * Lq * ldk, &q) || !GetSpan(info, 9, "k", B * Lk * ldk, &k) ||
      !GetSpan(info, 11, "v", B * Lk * ldv, &v) || !GetOptionalSpan(info, 13, "bias", H * Lq * Lk, &bias) ||
      !GetSpan(info, 15, "out", B * Lq * ldv, &out) || !GetSpan(info, 17, "p", B * H * Lq * Lk, &p)) {
    return env.Undefined();
  }
  pool().Run(B * H, [&](int64_t t) {
    const int64_t b = t / H, h = t % H;
    float* pt = p + t * Lq * Lk;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(Lq), static_cast<int>(Lk),
                static_cast<int>(d.dh), d.scale, q + b * Lq * ldk + h * d.dh, static_cast<int>(ldk),
                k + b * Lk * ldk + h * d.dh, static_cast<int>(ldk), 0.0f, pt, static_cast<int>(Lk));
    SoftmaxRows(pt, bias == nullptr ? nullptr : bias + h * Lq * Lk, Lq, Lk);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(Lq), static_cast<int>(d.dv),
                static_cast<int>(Lk), 1.0f, pt, static_cast<int>(Lk), v + b * Lk * ldv + h * d.dv,
                static_cast<int>(ldv), 0.0f, out + b * Lq * ldv + h * d.dv, static_cast<int>(ldv));
  });
  return env.Undefined();
}

// attentionGrad(B, H, Lq, Lk, dh, dv, scale, dout, doutOff, q, qOff, k, kOff, v, vOff, p, pOff,
//               dq, dqOff, dk, dkOff, dvv, dvvOff, dbias | null, dbiasOff), per (b, h) with S the scores:
//   dv = p^T dout;  dS = p * (dP - rowsum(dP * p)) with dP = dout v^T;  dq = scale dS k;  dk = scale dS^T q;
//   dbias[h] = sum over b of dS.
Napi::Value AttentionGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AttnDims d;
  float *dout, *q, *k, *v, *p, *dq, *dk, *dvv, *dbias;
  if (!GetAttnDims(info, 25, "attentionGrad", &d)) return env.Undefined();
  const int64_t B = d.B, H = d.H, Lq = d.Lq, Lk = d.Lk, ldk = H * d.dh, ldv = H * d.dv;
  if (!GetSpan(info, 7, "dout", B * Lq * ldv, &dout) || !GetSpan(info, 9, "q", B * Lq * ldk, &q) ||
      !GetSpan(info, 11, "k", B * Lk * ldk, &k) || !GetSpan(info, 13, "v", B * Lk * ldv, &v) ||
      !GetSpan(info, 15, "p", B * H * Lq * Lk, &p) || !GetSpan(info, 17, "dq", B * Lq * ldk, &dq) ||
      !GetSpan(info, 19, "dk", B * Lk * ldk, &dk) || !GetSpan(info, 21, "dv", B * Lk * ldv, &dvv) ||
      !GetOptionalSpan(info, 23, "dbias", H * Lq * Lk, &dbias)) {
    return env.Undefined();
  }
  // dS of every (b, h) is kept when the bias needs it, else each task uses its thread's scratch.
  std::vector<float> scratch(static_cast<size_t>(dbias != nullptr ? B * H * Lq * Lk : 0));
  pool().Run(B * H, [&](int64_t t) {
    const int64_t b = t / H, h = t % H;
    const float* pt = p + t * Lq * Lk;
    const float* dot = dout + b * Lq * ldv + h * d.dv;
    const float* qt = q + b * Lq * ldk + h * d.dh;
    const float* kt = k + b * Lk * ldk + h * d.dh;
    float* ds;
    if (dbias != nullptr) {
      ds = scratch.data() + t * Lq * Lk;
    } else {
      ds = Scratch(static_cast<size_t>(Lq * Lk));
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(Lk), static_cast<int>(d.dv),
                static_cast<int>(Lq), 1.0f, pt, static_cast<int>(Lk), dot, static_cast<int>(ldv), 0.0f,
                dvv + b * Lk * ldv + h * d.dv, static_cast<int>(ldv));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(Lq), static_cast<int>(Lk),
                static_cast<int>(d.dv), 1.0f, dot, static_cast<int>(ldv), v + b * Lk * ldv + h * d.dv,
                static_cast<int>(ldv), 0.0f, ds, static_cast<int>(Lk));
    SoftmaxGradRows(pt, ds, Lq, Lk);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(Lq), static_cast<int>(d.dh),
                static_cast<int>(Lk), d.scale, ds, static_cast<int>(Lk), kt, static_cast<int>(ldk), 0.0f,
                dq + b * Lq * ldk + h * d.dh, static_cast<int>(ldk));
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(Lk), static_cast<int>(d.dh),
                static_cast<int>(Lq), d.scale, ds, static_cast<int>(Lk), qt, static_cast<int>(ldk), 0.0f,
                dk + b * Lk * ldk + h * d.dh, static_cast<int>(ldk));
  });
  if (dbias != nullptr) {
    const int64_t block = Lq * Lk;
    ParallelRange(H * block, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const int64_t h = i / block, j = i % block;
        float s = 0;
        for (int64_t b = 0; b < B; ++b) s += scratch[static_cast<size_t>((b * H + h) * block + j)];
        dbias[i] = s;
      }
    });
  }
  return env.Undefined();
}


// jointAttention(B, H, N, M, dh, scale, x, xOff, c, cOff, ox, oxOff, oc, ocOff)
// MM-DiT joint attention straight from the two streams' fused projections: x [B, N, 3*H*dh] and c [B, M,
// 3*H*dh] hold q | k | v per token; the sequence is the N image tokens followed by the M text tokens.
// Writes ox [B, N, H*dh] and oc [B, M, H*dh]. Per (b, h) the head's rows are gathered into contiguous
// blocks, which replaces the concatenations of q, k and v, the slices of the output and all their
// gradients. The probabilities are not kept: the gradient recomputes them (one L x L x dh product), which
// costs less than holding B*H*L*L floats per block until the backward pass.
struct JointDims {
  int64_t B, H, N, M, dh;
  float scale;
  int64_t L() const { return N + M; }
  int64_t D() const { return H * dh; }
};

bool GetJointDims(const Napi::CallbackInfo& info, size_t expected, const char* name, JointDims* d) {
  Napi::Env env = info.Env();
  if (!ExpectArgs(info, expected, name)) return false;
  double scale;
  if (!GetInt(env, info[0], "B", 0, &d->B) || !GetInt(env, info[1], "H", 1, &d->H) ||
      !GetInt(env, info[2], "N", 0, &d->N) || !GetInt(env, info[3], "M", 0, &d->M) ||
      !GetInt(env, info[4], "dh", 1, &d->dh) || !GetFloat(env, info[5], "scale", &scale)) {
    return false;
  }
  if (d->L() < 1 || d->L() > kMaxBlasInt || d->dh > kMaxBlasInt) {
    Napi::RangeError::New(env, std::string(name) + ": the sequence must hold 1 to 2^31 - 1 tokens")
        .ThrowAsJavaScriptException();
    return false;
  }
  d->scale = static_cast<float>(scale);
  return true;
}

// Row r of the joint sequence of sample b: an image row of `x` or a text row of `c` (each `width` wide).
DDIT_INLINE float* JointRow(float* x, float* c, const JointDims& d, int64_t b, int64_t r, int64_t width) {
  return r < d.N ? x + (b * d.N + r) * width : c + (b * d.M + (r - d.N)) * width;
}

// Copies column block [col, col + dh) of every joint row into dst (L x dh), or back when `scatter`.
void GatherHead(float* x, float* c, const JointDims& d, int64_t b, int64_t width, int64_t col, float* dst,
                bool scatter) {
  const size_t bytes = static_cast<size_t>(d.dh) * sizeof(float);
  for (int64_t r = 0; r < d.L(); ++r) {
    float* row = JointRow(x, c, d, b, r, width) + col;
    if (scatter) std::memcpy(row, dst + r * d.dh, bytes);
    else std::memcpy(dst + r * d.dh, row, bytes);
  }
}

void Sgemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
              0.0f, c, static_cast<int>(ldc));
}

Napi::Value JointAttention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  JointDims d;
  float *x, *c, *ox, *oc;
  if (!GetJointDims(info, 14, "jointAttention", &d)) return env.Undefined();
  const int64_t B = d.B, H = d.H, L = d.L(), D = d.D(), dh = d.dh;
  if (!GetSpan(info, 6, "x", B * d.N * 3 * D, &x) || !GetSpan(info, 8, "c", B * d.M * 3 * D, &c) ||
      !GetSpan(info, 10, "ox", B * d.N * D, &ox) || !GetSpan(info, 12, "oc", B * d.M * D, &oc)) {
    return env.Undefined();
  }
  pool().Run(B * H, [&](int64_t t) {
    const int64_t b = t / H, h = t % H;
    float *q = Scratch(static_cast<size_t>(4 * L * dh + L * L)), *k = q + L * dh, *v = k + L * dh, *o = v + L * dh, *pt = o + L * dh;
    GatherHead(x, c, d, b, 3 * D, h * dh, q, false);
    GatherHead(x, c, d, b, 3 * D, D + h * dh, k, false);
    GatherHead(x, c, d, b, 3 * D, 2 * D + h * dh, v, false);
    Sgemm(false, true, L, L, dh, d.scale, q, dh, k, dh, pt, L);
    SoftmaxRows(pt, nullptr, L, L);
    Sgemm(false, false, L, dh, L, 1.0f, pt, L, v, dh, o, dh);
    GatherHead(ox, oc, d, b, D, h * dh, o, true);
  });
  return env.Undefined();
}

// jointAttentionGrad(B, H, N, M, dh, scale, dox, doxOff, doc, docOff, x, xOff, c, cOff, dx, dxOff, dc, dcOff):
// dx [B, N, 3*H*dh] and dc [B, M, 3*H*dh] receive dq | dk | dv, with p recomputed from q and k and
//   dv = p^T do;  dS = p * (dP - rowsum(dP * p)), dP = do v^T;  dq = scale dS k;  dk = scale dS^T q.
Napi::Value JointAttentionGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  JointDims d;
  float *dox, *doc, *x, *c, *dx, *dc;
  if (!GetJointDims(info, 18, "jointAttentionGrad", &d)) return env.Undefined();
  const int64_t B = d.B, H = d.H, L = d.L(), D = d.D(), dh = d.dh;
  if (!GetSpan(info, 6, "dox", B * d.N * D, &dox) || !GetSpan(info, 8, "doc", B * d.M * D, &doc) ||
      !GetSpan(info, 10, "x", B * d.N * 3 * D, &x) || !GetSpan(info, 12, "c", B * d.M * 3 * D, &c) ||
      !GetSpan(info, 14, "dx", B * d.N * 3 * D, &dx) || !GetSpan(info, 16, "dc", B * d.M * 3 * D, &dc)) {
    return env.Undefined();
  }
  pool().Run(B * H, [&](int64_t t) {
    const int64_t b = t / H, h = t % H;
    float *q = Scratch(static_cast<size_t>(7 * L * dh + 2 * L * L)), *k = q + L * dh, *v = k + L * dh, *g = v + L * dh;
    float *dq = g + L * dh, *dk = dq + L * dh, *dv = dk + L * dh, *ds = dv + L * dh, *pt = ds + L * L;
    GatherHead(x, c, d, b, 3 * D, h * dh, q, false);
    GatherHead(x, c, d, b, 3 * D, D + h * dh, k, false);
    GatherHead(x, c, d, b, 3 * D, 2 * D + h * dh, v, false);
    GatherHead(dox, doc, d, b, D, h * dh, g, false);
    Sgemm(false, true, L, L, dh, d.scale, q, dh, k, dh, pt, L);
    SoftmaxRows(pt, nullptr, L, L);
    Sgemm(true, false, L, dh, L, 1.0f, pt, L, g, dh, dv, dh);
    Sgemm(false, true, L, L, dh, 1.0f, g, dh, v, dh, ds, L);
    SoftmaxGradRows(pt, ds, L, L);
    Sgemm(false, false, L, dh, L, d.scale, ds, L, k, dh, dq, dh);
    Sgemm(true, false, L, dh, L, d.scale, ds, L, q, dh, dk, dh);
    GatherHead(dx, dc, d, b, 3 * D, h * dh, dq, true);
    GatherHead(dx, dc, d, b, 3 * D, D + h * dh, dk, true);
    GatherHead(dx, dc, d, b, 3 * D, 2 * D + h * dh, dv, true);
  });
  return env.Undefined();
}


// fillRows(rows, n, v, vOff, out, outOff): every row of out (rows x n) = v (n
// elements), e.g. a bias before a GEMM with beta = 1.
Napi::Value FillRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t rows, n;
  float *v, *out;
  if (info.Length() != 6 || !GetInt(env, info[0], "rows", 0, &rows) || !GetInt(env, info[1], "n", 0, &n) ||
      !GetSpan(info, 2, "v", n, &v) || !GetSpan(info, 4, "out", rows * n, &out)) {
    if (!env.IsExceptionPending()) Napi::TypeError::New(env, "fillRows expects 6 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  for (int64_t r = 0; r < rows; ++r) std::memcpy(out + r * n, v, static_cast<size_t>(n) * sizeof(float));
  return env.Undefined();
}

// gatherRows(n, cols, rows, table, tableOff, ids, idsOff, out, outOff):
// out[i] = table[ids[i]] for n rows of cols floats (an embedding lookup).
// ids is an Int32Array view over the same heap. An id outside [0, rows)
// throws a RangeError naming it, with nothing written.
Napi::Value GatherRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!ExpectArgs(info, 9, "gatherRows")) return env.Undefined();
  int64_t n, cols, rows, idsOff;
  float *table, *out;
  if (!GetInt(env, info[0], "n", 0, &n) || !GetInt(env, info[1], "cols", 0, &cols) ||
      !GetInt(env, info[2], "rows", 0, &rows) || !GetSpan(info, 3, "table", rows * cols, &table) ||
      !GetSpan(info, 7, "out", n * cols, &out)) {
    return env.Undefined();
  }
  if (!info[5].IsTypedArray() || info[5].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    Napi::TypeError::New(env, "ids must be an Int32Array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Int32Array idsView = info[5].As<Napi::Int32Array>();
  if (!GetInt(env, info[6], "ids", 0, &idsOff)) return env.Undefined();
  if (idsOff + n > static_cast<int64_t>(idsView.ElementLength())) {
    Napi::RangeError::New(env, "ids: operand reaches past the end of its array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int32_t* ids = idsView.Data() + idsOff;
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= rows) {
      Napi::RangeError::New(env, "index " + std::to_string(ids[i]) + " is outside 0.." + std::to_string(rows - 1))
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  const size_t bytes = static_cast<size_t>(cols) * sizeof(float);
  for (int64_t i = 0; i < n; ++i) std::memcpy(out + i * cols, table + static_cast<int64_t>(ids[i]) * cols, bytes);
  return env.Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t n;
  if (info.Length() != 1 || !GetInt(env, info[0], "threads", 1, &n)) return env.Undefined();
  pool().Resize(static_cast<int>(n));
  return env.Undefined();
}

// Diagnostic: OpenBLAS's own threads (1 by default; the pool does the splitting).
Napi::Value SetBlasThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t n;
  if (info.Length() != 1 || !GetInt(env, info[0], "threads", 1, &n)) return env.Undefined();
  openblas_set_num_threads(static_cast<int>(n));
  return env.Undefined();
}

// setSpin(us): how long idle pool threads (and a caller waiting on them) spin before sleeping; 0 = never.
Napi::Value SetSpin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t us;
  if (info.Length() != 1 || !GetInt(env, info[0], "us", 0, &us)) return env.Undefined();
  pool().SetSpinMicros(us);
  return env.Undefined();
}

Napi::Value GetSpin(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(pool().spinMicros()));
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), pool().size());
}

Napi::Value Library(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string config = openblas_get_config();
  while (!config.empty() && config.front() == ' ') config.erase(config.begin());
  while (!config.empty() && config.back() == ' ') config.pop_back();
  return Napi::String::New(env, config + " (core " + openblas_get_corename() + ")");
}

int DefaultThreads() {
  for (const char* name : {"DDIT_NATIVE_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"}) {
    const char* v = std::getenv(name);
    if (v != nullptr && std::atoi(v) > 0) return std::atoi(v);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // All parallelism comes from Pool; OpenBLAS itself runs on the calling thread.
  openblas_set_num_threads(1);
  pool().Resize(DefaultThreads());
  if (const char* spin = std::getenv("DDIT_NATIVE_SPIN_US"); spin != nullptr && *spin != '\0') {
    pool().SetSpinMicros(std::atoll(spin));
  }
  exports.Set("gemmBatched", Napi::Function::New(env, GemmBatched, "gemmBatched"));
  exports.Set("adamw", Napi::Function::New(env, AdamW, "adamw"));
  exports.Set("emaUpdate", Napi::Function::New(env, EmaUpdate, "emaUpdate"));
  exports.Set("sumSquares", Napi::Function::New(env, SumSquares, "sumSquares"));
  exports.Set("reduceSum", Napi::Function::New(env, ReduceSum, "reduceSum"));
  exports.Set("geluTanh", Napi::Function::New(env, Gelu, "geluTanh"));
  exports.Set("geluTanhGrad", Napi::Function::New(env, GeluGrad, "geluTanhGrad"));
  exports.Set("layerNorm", Napi::Function::New(env, LayerNorm, "layerNorm"));
  exports.Set("layerNormGrad", Napi::Function::New(env, LayerNormGrad, "layerNormGrad"));
  exports.Set("adaLayerNorm", Napi::Function::New(env, AdaLayerNorm, "adaLayerNorm"));
  exports.Set("adaLayerNormGrad", Napi::Function::New(env, AdaLayerNormGrad, "adaLayerNormGrad"));
  exports.Set("gatedAdd", Napi::Function::New(env, GatedAdd, "gatedAdd"));
  exports.Set("gatedAddGrad", Napi::Function::New(env, GatedAddGrad, "gatedAddGrad"));
  exports.Set("attention", Napi::Function::New(env, Attention, "attention"));
  exports.Set("attentionGrad", Napi::Function::New(env, AttentionGrad, "attentionGrad"));
  exports.Set("jointAttention", Napi::Function::New(env, JointAttention, "jointAttention"));
  exports.Set("jointAttentionGrad", Napi::Function::New(env, JointAttentionGrad, "jointAttentionGrad"));
  exports.Set("fillRows", Napi::Function::New(env, FillRows, "fillRows"));
  exports.Set("gatherRows", Napi::Function::New(env, GatherRows, "gatherRows"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("setBlasThreads", Napi::Function::New(env, SetBlasThreads, "setBlasThreads"));
  exports.Set("setSpin", Napi::Function::New(env, SetSpin, "setSpin"));
  exports.Set("getSpin", Napi::Function::New(env, GetSpin, "getSpin"));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads, "getThreads"));
  exports.Set("library", Napi::Function::New(env, Library, "library"));
  return exports;
}

}  // namespace

NODE_API_MODULE(ddit_native, Init)
