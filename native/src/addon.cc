// ddit_native: float32 kernels over OpenBLAS for the tfjs wasm backend.
//
// Every operand is passed as (Float32Array, element offset). The arrays are
// usually views of the wasm heap (possibly over a SharedArrayBuffer), so the
// kernels write their results in place and tensors never leave that heap.
// Each entry point checks that every element it touches lies inside the
// array it was given: a wrong offset must throw, never corrupt memory.

#include <napi.h>
#include <cblas.h>

#include <cstdint>
#include <string>

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
  for (int64_t i = 0; i < batch; ++i) {
    float* ci = c.data + cOff + i * sC;
    if (k == 0) {
      // BLAS leaves C untouched for k == 0 only when beta == 1; spell it out.
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t j = 0; j < n; ++j) ci[r * ldc + j] = beta == 0.0f ? 0.0f : beta * ci[r * ldc + j];
      }
      continue;
    }
    cblas_sgemm(CblasRowMajor, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha,
                a.data + aOff + i * sA, static_cast<int>(lda), b.data + bOff + i * sB, static_cast<int>(ldb), beta, ci,
                static_cast<int>(ldc));
  }
  return env.Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t n;
  if (info.Length() != 1 || !GetInt(env, info[0], "threads", 1, &n)) return env.Undefined();
  openblas_set_num_threads(static_cast<int>(n));
  return env.Undefined();
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), openblas_get_num_threads());
}

Napi::Value Library(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string config = openblas_get_config();
  while (!config.empty() && config.front() == ' ') config.erase(config.begin());
  while (!config.empty() && config.back() == ' ') config.pop_back();
  return Napi::String::New(env, config + " (core " + openblas_get_corename() + ")");
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("gemmBatched", Napi::Function::New(env, GemmBatched, "gemmBatched"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads, "getThreads"));
  exports.Set("library", Napi::Function::New(env, Library, "library"));
  return exports;
}

}  // namespace

NODE_API_MODULE(ddit_native, Init)
