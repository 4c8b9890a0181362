// thinc_fast's CUDA kernels, compiled at run time by cupy.RawModule (once per
// device) and checked with nvcc in the test suite. float32 throughout; every
// kernel uses a grid-stride loop, so any launch size covers any array.

extern "C" {

// Y[i, j] = max(Y[i, j] + b[j], 0) over an (nr, nc) C-contiguous array.
__global__ void tf_bias_relu(float* Y, const float* b, long long nr, long long nc)
{
    long long n = nr * nc;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        float v = Y[i] + b[i % nc];
        Y[i] = v > 0.0f ? v : 0.0f;
    }
}

// Y[i, j] += b[j].
__global__ void tf_bias_add(float* Y, const float* b, long long nr, long long nc)
{
    long long n = nr * nc;
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x)
        Y[i] += b[i % nc];
}

// dX = dY where Y > 0, else 0.
__global__ void tf_relu_backward(float* dX, const float* dY, const float* Y, long long n)
{
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;
         i += (long long)blockDim.x * gridDim.x) {
        float d = dY[i];
        dX[i] = Y[i] > 0.0f ? d : 0.0f;
    }
}

// out[j] += sum_i X[i, j]: one thread per column, rows read coalesced across threads.
__global__ void tf_colsum_inc(float* out, const float* X, long long nr, long long nc)
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
__global__ void tf_softmax_rows(float* Y, const float* X, long long nr, long long nc)
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
__global__ void tf_sumsq(const float* g, const float* w, float l2, long long n, double* partial)
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
// scale is per segment (see segment_scale); avg is used only when has_avg.
__global__ void tf_adam(float* w, float* g, float* m, float* v, float* avg, int has_avg, long long n,
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
__global__ void tf_sgd(float* w, float* g, float* avg, int has_avg, long long n,
                       const float* scales, const long long* offs, int nseg, float l2,
                       float lr, float decay, float avg_rate)
{
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
