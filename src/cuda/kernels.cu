// thinc_fast's CUDA kernels, compiled at run time by cupy.RawModule (once per
// device) and checked with nvcc in the test suite. float32 throughout; every
// kernel uses a grid-stride loop, so any launch size covers any array. Without
// a GPU the test suite compiles this whole file with g++ and runs it on the CPU
// (tests/cupy_standin: every block and thread of a launch, __syncthreads as a
// real barrier, shared memory and arguments checked): keep to what its header
// emulates (no warp shuffles or __syncwarp; those would need it extended).

extern "C" {

// Y[i, j] = max(Y[i, j] + b[j], 0) over an (nr, nc) C-contiguous array.
__global__ void thf_bias_relu(float* Y, const float* b, long long nr, long long nc)
{
    long long n = nr * nc;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        float v = Y[i] + b[i % nc];
        Y[i] = v <= 0.0f ? 0.0f : v;  /* NaN propagates, as in Thinc */
    }
}

// Y[i, j] += b[j].
__global__ void thf_bias_add(float* Y, const float* b, long long nr, long long nc)
{
    long long n = nr * nc;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x)
        Y[i] += b[i % nc];
}

// dX = dY where Y > 0, else 0.
__global__ void thf_relu_backward(float* dX, const float* dY, const float* Y, long long n)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        float d = dY[i];
        dX[i] = Y[i] <= 0.0f ? 0.0f : d;
    }
}

// out[j] += sum_i X[i, j]: one thread per column, rows read coalesced across threads.
__global__ void thf_colsum_inc(float* out, const float* X, long long nr, long long nc)
{
    for (long long j = blockIdx.x * (long long)blockDim.x + threadIdx.x; j < nc;
         j += (long long)blockDim.x * gridDim.x) {
        float acc = 0.0f;
        for (long long i = 0; i < nr; ++i)
            acc += X[i * nc + j];
        out[j] += acc;
    }
}

// Row-wise softmax, one block per row (blockDim.x a power of two <= 1024).
__global__ void thf_softmax_rows(float* Y, const float* X, long long nr, long long nc)
{
    extern __shared__ float scratch[];
    for (long long row = blockIdx.x; row < nr; row += gridDim.x) {
        const float* x = X + row * nc;
        float* y = Y + row * nc;
        float mx = __int_as_float(0xff800000);  // -inf, without math headers (NVRTC)
        for (long long j = threadIdx.x; j < nc; j += blockDim.x)
            mx = fmaxf(mx, x[j]);
        scratch[threadIdx.x] = mx;
        __syncthreads();
        for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s)
                scratch[threadIdx.x] = fmaxf(scratch[threadIdx.x], scratch[threadIdx.x + s]);
            __syncthreads();
        }
        mx = scratch[0];
        __syncthreads();
        float total = 0.0f;
        for (long long j = threadIdx.x; j < nc; j += blockDim.x) {
            float e = expf(x[j] - mx);
            y[j] = e;
            total += e;
        }
        scratch[threadIdx.x] = total;
        __syncthreads();
        for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
            if (threadIdx.x < s)
                scratch[threadIdx.x] += scratch[threadIdx.x + s];
            __syncthreads();
        }
        float inv = 1.0f / scratch[0];
        __syncthreads();
        for (long long j = threadIdx.x; j < nc; j += blockDim.x)
            y[j] *= inv;
    }
}

// partial[block] = sum over the block's share of (g + l2 * w)^2, in double.
// (w is read only when l2 != 0.) blockDim.x must be 256.
__global__ void thf_sumsq(const float* g, const float* w, float l2, long long n, double* partial)
{
    __shared__ double scratch[256];
    double acc = 0.0;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        float v = g[i];
        if (l2 != 0.0f)
            v += l2 * w[i];
        acc += (double)v * (double)v;
    }
    scratch[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            scratch[threadIdx.x] += scratch[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        partial[blockIdx.x] = scratch[0];
}

// The gradient scale of position i: scales[k] for the segment k with
// offs[k] <= i < offs[k + 1] (per-tensor clipping); nseg >= 1.
__device__ __forceinline__ float segment_scale(const float* scales, const long long* offs,
                                               int nseg, long long i)
{
    int lo = 0, hi = nseg - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (offs[mid] <= i)
            lo = mid;
        else
            hi = mid - 1;
    }
    return scales[lo];
}

// One fused Adam step over the whole arena, in Thinc's order:
//   g = (g + l2 w) * scale; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2
//   w -= lr_hat * m / (sqrt(v) + eps)   (w -= lr_hat * m without use_denominator)
//   w -= decay * w; ema -= avg_rate * (ema - w); g = 0
// scale is per segment (see segment_scale); avg is used only when has_avg. The
// scalars after nseg are thf_step's fields (src/include/stream_loops.h) in its
// order, the same tail for every step kernel.
__global__ void thf_adam(float* w, float* g, float* m, float* v, float* avg, int has_avg, long long n,
                        const float* scales, const long long* offs, int nseg,
                        float l2, float lr_hat, float b1, float b2, float eps,
                        float decay, float avg_rate, int use_denominator)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        float wi = w[i];
        float gi = (g[i] + l2 * wi) * segment_scale(scales, offs, nseg, i);
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        float step = use_denominator ? mi / (sqrtf(vi) + eps) : mi;
        wi -= lr_hat * step;
        wi -= decay * wi;
        m[i] = mi;
        v[i] = vi;
        w[i] = wi;
        g[i] = 0.0f;
        if (has_avg)
            avg[i] -= avg_rate * (avg[i] - wi);
    }
}

// One fused SGD step: w -= lr (g + l2 w) scale; w -= decay w; averages; g = 0.
// It takes the step scalars of thf_adam (thf_step's order, one unpacking in
// cupy_ops.py); b1, b2, eps and use_denominator are Adam's and unused here.
__global__ void thf_sgd(float* w, float* g, float* avg, int has_avg, long long n,
                       const float* scales, const long long* offs, int nseg,
                       float l2, float lr, float b1, float b2, float eps,
                       float decay, float avg_rate, int use_denominator)
{
    (void)b1;
    (void)b2;
    (void)eps;
    (void)use_denominator;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        float wi = w[i];
        wi -= lr * ((g[i] + l2 * wi) * segment_scale(scales, offs, nseg, i));
        wi -= decay * wi;
        w[i] = wi;
        g[i] = 0.0f;
        if (has_avg)
            avg[i] -= avg_rate * (avg[i] - wi);
    }
}

}  // extern "C"

// ---------------------------------------------------------------------------
// Sequences, hashing and embeddings. Sequences are given by
// offsets: sequence k holds rows [offs[k], offs[k + 1]), offs[nseq] = rows;
// empty sequences are allowed. One thread per output value, grid-stride.

extern "C" {

// The sequence k < nseq holding row r: the last k with offs[k] <= r.
__device__ __forceinline__ long long thf_seq_of_row(const long long* offs, long long nseq,
                                                   long long r)
{
    long long lo = 0, hi = nseq - 1;
    while (lo < hi) {
        long long mid = (lo + hi + 1) / 2;
        if (offs[mid] <= r)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

__device__ __forceinline__ unsigned long long thf_fmix64(unsigned long long k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

// MurmurHash3_x64_128 of each 8-byte id with `seed` (Thinc's hash values):
// out[4 i .. 4 i + 3] = low and high halves of h1, then of h2.
__global__ void thf_hash_u64(unsigned int* out, const unsigned long long* ids, long long n,
                            unsigned int seed)
{
    const unsigned long long c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
    const unsigned long long s = (unsigned long long)seed ^ 8ULL;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        unsigned long long k1 = ids[i] * c1;
        k1 = ((k1 << 31) | (k1 >> 33)) * c2;
        unsigned long long h1 = s ^ k1, h2 = s;
        h1 += h2;
        h2 += h1;
        h1 = thf_fmix64(h1);
        h2 = thf_fmix64(h2);
        h1 += h2;
        h2 += h1;
        out[4 * i + 0] = (unsigned int)h1;
        out[4 * i + 1] = (unsigned int)(h1 >> 32);
        out[4 * i + 2] = (unsigned int)h2;
        out[4 * i + 3] = (unsigned int)(h2 >> 32);
    }
}

// cols (B, nF * I), nF = 2 nW + 1: cols[t, k, j] = X[t + k - nW, j] when that
// row is in t's sequence, else 0.
__global__ void thf_seq2col(float* cols, const float* X, const long long* offs, long long nseq,
                           long long B, long long I, int nW)
{
    const long long nF = 2 * (long long)nW + 1, n = B * nF * I;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n;
         e += (long long)blockDim.x * gridDim.x) {
        const long long t = e / (nF * I), rem = e - t * nF * I;
        const long long k = rem / I, j = rem - k * I;
        const long long seq = thf_seq_of_row(offs, nseq, t);
        const long long src = t + k - nW;
        cols[e] = (src >= offs[seq] && src < offs[seq + 1]) ? X[src * I + j] : 0.0f;
    }
}

// dX (B, I): dX[s, j] = sum over the rows t of s's sequence with |t - s| <= nW
// of dY[t, nW + s - t, j], added in order of t.
__global__ void thf_backprop_seq2col(float* dX, const float* dY, const long long* offs,
                                    long long nseq, long long B, long long I, int nW)
{
    const long long nF = 2 * (long long)nW + 1, n = B * I;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n;
         e += (long long)blockDim.x * gridDim.x) {
        const long long s = e / I, j = e - s * I;
        const long long seq = thf_seq_of_row(offs, nseq, s);
        const long long lo = s - nW > offs[seq] ? s - nW : offs[seq];
        const long long hi = s + nW < offs[seq + 1] - 1 ? s + nW : offs[seq + 1] - 1;
        float acc = 0.0f;
        for (long long t = lo; t <= hi; ++t)
            acc += dY[(t * nF + (s - t + nW)) * I + j];
        dX[e] = acc;
    }
}

// out (B, O): out[b, j] = sum_k table[idx[b, k], j] (indices checked by the caller).
__global__ void thf_gather_add(float* out, const float* table, const long long* idx, long long B,
                              long long K, long long O)
{
    const long long n = B * O;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n;
         e += (long long)blockDim.x * gridDim.x) {
        const long long b = e / O, j = e - b * O;
        float acc = 0.0f;
        for (long long k = 0; k < K; ++k)
            acc += table[idx[b * K + k] * O + j];
        out[e] = acc;
    }
}

// out (nseq, O): the sum (mean != 0: the mean) of each sequence's rows; 0 when empty.
__global__ void thf_reduce_sum(float* out, const float* X, const long long* offs, long long nseq,
                              long long O, int mean)
{
    const long long n = nseq * O;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n;
         e += (long long)blockDim.x * gridDim.x) {
        const long long k = e / O, j = e - k * O;
        const long long a = offs[k], b = offs[k + 1];
        float acc = 0.0f;
        for (long long t = a; t < b; ++t)
            acc += X[t * O + j];
        if (mean && b > a)
            acc *= 1.0f / (float)(b - a);
        out[e] = acc;
    }
}

// maxes, which (nseq, O): the column maxima of each (non-empty) sequence and
// their row within it, the first on ties.
__global__ void thf_reduce_max(float* maxes, int* which, const float* X, const long long* offs,
                              long long nseq, long long O)
{
    const long long n = nseq * O;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n;
         e += (long long)blockDim.x * gridDim.x) {
        const long long k = e / O, j = e - k * O;
        const long long a = offs[k], b = offs[k + 1];
        float best = X[a * O + j];
        int arg = 0;
        for (long long t = a + 1; t < b; ++t) {
            const float v = X[t * O + j];
            if (v > best) {
                best = v;
                arg = (int)(t - a);
            }
        }
        maxes[e] = best;
        which[e] = arg;
    }
}

// dX (rows, O): dX[t] = d[k] for t in sequence k (mean != 0: divided by its length).
__global__ void thf_backprop_reduce_sum(float* dX, const float* d, const long long* offs,
                                       long long nseq, long long rows, long long O, int mean)
{
    const long long n = rows * O;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n;
         e += (long long)blockDim.x * gridDim.x) {
        const long long t = e / O, j = e - t * O;
        const long long k = thf_seq_of_row(offs, nseq, t);
        float v = d[k * O + j];
        if (mean)
            v *= 1.0f / (float)(offs[k + 1] - offs[k]);
        dX[e] = v;
    }
}

// dX (rows, O): d[k, j] at row offs[k] + which[k, j] of sequence k, 0 elsewhere
// (which checked by the caller).
__global__ void thf_backprop_reduce_max(float* dX, const float* d, const int* which,
                                       const long long* offs, long long nseq, long long rows,
                                       long long O)
{
    const long long n = rows * O;
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n;
         e += (long long)blockDim.x * gridDim.x) {
        const long long t = e / O, j = e - t * O;
        const long long k = thf_seq_of_row(offs, nseq, t);
        dX[e] = (t - offs[k] == (long long)which[k * O + j]) ? d[k * O + j] : 0.0f;
    }
}

}  // extern "C"
