"""Brute-force Python-integer computations, written independently of the code under test."""


def sad_gemm(a, b):
    T, K, P = len(a), len(b), len(b[0]) if len(b) else 0
    return [[sum(abs(int(a[t][k]) - int(b[k][p])) for k in range(K)) for p in range(P)] for t in range(T)]


def layer(x, w, stride, padding, term):
    """Σ over (c, i, j) of term(x_value, w_value), zero padding; nested lists out (N, Cout, Ho, Wo)."""
    N, C, H, W = x.shape
    T, _, kh, kw = w.shape
    ho = (H + 2 * padding - kh) // stride + 1
    wo = (W + 2 * padding - kw) // stride + 1
    out = [[[[0] * wo for _ in range(ho)] for _ in range(T)] for _ in range(N)]
    for n in range(N):
        for t in range(T):
            for yy in range(ho):
                for xx in range(wo):
                    s = 0
                    for c in range(C):
                        for i in range(kh):
                            for j in range(kw):
                                r, q = yy * stride + i - padding, xx * stride + j - padding
                                v = int(x[n, c, r, q]) if 0 <= r < H and 0 <= q < W else 0
                                s += term(v, int(w[t, c, i, j]))
                    out[n][t][yy][xx] = s
    return out
