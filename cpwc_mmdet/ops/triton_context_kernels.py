"""Triton kernels of CPWC's context unit ``base + s1(x) + s2(s1(x))``.

``s1`` is stage 1 (one 3x3 filter per output channel ``z`` over its input
group ``G(z)``, padding 1, stride ``STRIDE``), ``s2`` the depthwise 3x3 stage
2 (stride 1, padding 1) and ``base`` an optional tensor added on the way out
(the 1x1 path's output). The launchers and the ``torch.library`` op are in
``triton_context.py``.

Layout: every tensor is addressed through its four strides, so NCHW and
channels_last (and any other strided layout) run the same kernels; tiles are
``[pixels, channels]`` and Triton's coalescing follows whichever axis has
stride 1 (channels for channels_last, the default on GPUs).

Stage 1 as "members" (the C++ kernel's formulation, see
``csrc/cpwc_context.cpp``): a member is one 3x3 kernel reading one input
channel, ``w1`` is ``(M, 9)``, and

* Z <= C: members are the input channels (``M = C``); output channel ``z``
  of a segment sums the ``r`` consecutive members ``start + z_rel * r + j``.
* Z > C: members are the output channels (``M = Z``); member ``z`` reads
  input channel ``start + z_rel // e``.

There are at most two segments (``cpwc_groups``); segment 1 starts at
output channel ``ZS1`` and input channel ``CS1`` (``Z`` and ``C`` when there
is one segment), and ``WIDTH0`` / ``WIDTH1`` are their ``r`` or ``e``.

Passes over activations (every sum in float32 whatever the input dtype):

* forward: one, reading ``x`` (and ``base``) and writing the output; the
  stage-1 values that stage 2 needs around a pixel are recomputed, not
  stored: a program walks down a strip of rows keeping three output rows
  in registers and computes each stage-1 row once per horizontal shift
  (3x the stage-1 FLOPs, ``(rows + 2) / rows`` for the vertical halo).
* backward, stage 2 (skipped without it): one, reading ``x`` and the output
  gradient ``g`` and writing ``gs = g + s2^T(g)``, the gradient of ``s1``;
  ``grad w2[z, t] = sum_q s1[q] g[q - d_t]`` shifts ``g`` instead of ``s1``,
  so stage 1 is computed once per pixel.
* backward, stage 1: one in input space, reading ``x`` and ``gs``, writing
  ``grad x`` and reducing ``grad w1`` from the same shifted ``gs`` loads.

Weight gradients are reduced per program and added with float32 atomics
(not bitwise deterministic; the dispatcher uses PyTorch when deterministic
algorithms are requested).
"""

import os

import triton
import triton.language as tl

#: Triton's CPU interpreter runs every program in Python: one small
#: configuration only
INTERPRET = os.environ.get('TRITON_INTERPRET', '0') == '1'
#: the configuration under the interpreter
INTERPRETED = (4, 8, 8, 4)

#: launch configurations ``(BLOCK_H, BLOCK_W, BLOCK_Z, num_warps)`` each
#: kernel may get (``kernel_choices`` picks one per problem from a choices
#: file, the first without one; nothing autotunes at run time). Every one
#: is compiled ahead of time for sm_80 and sm_90 in CI
#: (tests/test_ops/test_triton_aot.py: registers printed, spills fail).
#: Row-walking forward: six [BLOCK_W, BLOCK_Z] float32 tiles live, so at
#: most four elements per thread
ROW_CONFIGS = [
    (8, 16, 32, 4),
    (16, 16, 32, 4),
    (8, 32, 32, 8),
    (16, 32, 32, 8),
    (8, 16, 64, 8),
    (16, 8, 32, 2),
]
#: pixel-patch kernels (both backward passes): (BLOCK_H * BLOCK_W) x
#: BLOCK_Z tiles
PATCH_CONFIGS = [
    (4, 8, 32, 4),
    (8, 8, 32, 8),
    (4, 16, 32, 4),
    (4, 8, 64, 4),
    (8, 16, 32, 8),
    (8, 8, 64, 8),
]
#: every launch's register ceiling (``.maxnreg``): without one, ptxas 13
#: holds some variants to 64-128 registers for occupancy and spills 8-32
#: bytes (an offline sweep of every configuration, branch flag, stride,
#: dtype and stage-1 form on sm_80 and sm_90 found such spills in all
#: three kernels); with it, none spills
MAX_REGISTERS = 255
#: arguments that change with the input's size: not specialised (Triton
#: would compile a variant per divisibility by 16 of each)
SIZE_ARGS = ['N', 'H', 'W', 'Ho', 'Wo']


def configs_of(kernel_name: str):
    """The launch configurations ``kernel_name`` may get (the interpreter's
    one under ``TRITON_INTERPRET=1``)."""
    if INTERPRET:
        return [INTERPRETED]
    if kernel_name == 'context_forward_kernel':
        return ROW_CONFIGS
    return PATCH_CONFIGS


def _size_strides(*prefixes):
    """The batch and row strides of the tensors ``prefixes`` names, which
    change with the input's size too."""
    return [p + axis for p in prefixes for axis in 'nh']


@triton.jit
def _z_members(z, j, ZS1, CS1, WIDTH0, WIDTH1, EXPAND: tl.constexpr):
    """Member ``j`` of output channels ``z``: (member, input channel,
    valid); ``j`` counts up to the segment's ``r`` (Z <= C) or is 0."""
    second = z >= ZS1
    width = tl.where(second, WIDTH1, WIDTH0)
    z_rel = z - tl.where(second, ZS1, 0)
    c_start = tl.where(second, CS1, 0)
    if EXPAND:
        member = z
        channel = c_start + z_rel // width
        valid = z_rel >= 0
    else:
        member = c_start + z_rel * width + j
        channel = member
        valid = j < width
    return member, channel, valid


@triton.jit
def _c_members(c, j, ZS1, CS1, WIDTH0, WIDTH1, EXPAND: tl.constexpr):
    """Member ``j`` reading input channels ``c``: (member, output channel,
    valid); ``j`` counts up to the segment's ``e`` (Z > C) or is 0."""
    second = c >= CS1
    width = tl.where(second, WIDTH1, WIDTH0)
    c_rel = c - tl.where(second, CS1, 0)
    z_start = tl.where(second, ZS1, 0)
    if EXPAND:
        z = z_start + c_rel * width + j
        member = z
        valid = j < width
    else:
        member = c
        z = z_start + c_rel // width
        valid = c_rel >= 0
    return member, z, valid


@triton.jit
def _stage1(
    x_n,
    w1_ptr,
    oh,
    ow,
    z,
    z_ok,
    H,
    W,
    sxc,
    sxh,
    sxw,
    ZS1,
    CS1,
    WIDTH0,
    WIDTH1,
    STRIDE: tl.constexpr,
    EXPAND: tl.constexpr,
    MAX_WIDTH: tl.constexpr,
    SHIFTS: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_Z: tl.constexpr,
):
    """Stage 1 at output rows ``oh`` and columns ``ow - 1, ow, ow + 1``
    (``SHIFTS`` 3) or ``ow`` only (``SHIFTS`` 1, the others returned 0).

    ``oh`` is a scalar or ``[BLOCK_P, 1]``, ``ow`` is ``[BLOCK_P, 1]``, ``z``
    ``[BLOCK_Z]``. Returns three float32 ``[BLOCK_P, BLOCK_Z]`` tiles, not
    masked to the output's extent. Each input column is loaded once for the
    shifts that read it.
    """
    s_l = tl.zeros([BLOCK_P, BLOCK_Z], tl.float32)
    s_c = tl.zeros([BLOCK_P, BLOCK_Z], tl.float32)
    s_r = tl.zeros([BLOCK_P, BLOCK_Z], tl.float32)
    # input column ow * STRIDE - STRIDE - 1 + o feeds shift k through tap
    # dx = o - k * STRIDE
    o_lo: tl.constexpr = (3 - SHIFTS) // 2 * STRIDE
    o_hi: tl.constexpr = o_lo + (SHIFTS - 1) * STRIDE + 3
    # members and kernel rows as loops, not unrolled: this bounds the loads
    # in flight, and so the registers (ptxas would hoist them all)
    for j in range(MAX_WIDTH):
        member, channel, valid = _z_members(
            z, j, ZS1, CS1, WIDTH0, WIDTH1, EXPAND
        )
        valid = valid & z_ok
        c_off = channel[None, :] * sxc
        w_m = w1_ptr + member * 9
        for dy in range(3):
            w_0 = tl.load(w_m + dy * 3, mask=valid, other=0.0).to(tl.float32)
            w_1 = tl.load(w_m + dy * 3 + 1, mask=valid, other=0.0).to(
                tl.float32
            )
            w_2 = tl.load(w_m + dy * 3 + 2, mask=valid, other=0.0).to(
                tl.float32
            )
            ih = oh * STRIDE + (dy - 1)
            # row-dependent terms first, so that no [pixels, channels]
            # address or mask is invariant in a caller's row loop (hoisted
            # out of it, they would take registers)
            x_row = x_n + ih * sxh
            row_ok = (ih >= 0) & (ih < H)
            for o in tl.static_range(o_lo, o_hi):
                iw = ow * STRIDE + (o - STRIDE - 1)
                xt = tl.load(
                    (x_row + iw * sxw) + c_off,
                    mask=(row_ok & (iw >= 0) & (iw < W)) & valid[None, :],
                    other=0.0,
                ).to(tl.float32)
                for k in tl.static_range(3):
                    dx = o - k * STRIDE
                    if dx >= 0:
                        if dx < 3:
                            if SHIFTS == 3 or k == 1:
                                if dx == 0:
                                    wt = w_0
                                elif dx == 1:
                                    wt = w_1
                                else:
                                    wt = w_2
                                if k == 0:
                                    s_l += wt[None, :] * xt
                                elif k == 1:
                                    s_c += wt[None, :] * xt
                                else:
                                    s_r += wt[None, :] * xt
    return s_l, s_c, s_r


@triton.jit
def _stage2_row(w2_ptr, z, z_ok, dy: tl.constexpr, s_l, s_c, s_r):
    """``sum_dx w2[z, dy, dx] * s_dx``: row ``dy`` of the stage-2 taps."""
    w_t = w2_ptr + z * 9 + dy * 3
    w_0 = tl.load(w_t, mask=z_ok, other=0.0).to(tl.float32)
    w_1 = tl.load(w_t + 1, mask=z_ok, other=0.0).to(tl.float32)
    w_2 = tl.load(w_t + 2, mask=z_ok, other=0.0).to(tl.float32)
    return w_0[None, :] * s_l + w_1[None, :] * s_c + w_2[None, :] * s_r


@triton.jit
def _store(
    out_ptr,
    base_ptr,
    n,
    oh,
    ow,
    z,
    acc,
    mask,
    son,
    soc,
    soh,
    sow,
    sbn,
    sbc,
    sbh,
    sbw,
    HAS_BASE: tl.constexpr,
):
    """``out[n, z, oh, ow] = acc (+ base[n, z, oh, ow])`` in out's dtype."""
    if HAS_BASE:
        acc += tl.load(
            base_ptr + n * sbn + z[None, :] * sbc + oh * sbh + ow * sbw,
            mask=mask,
            other=0.0,
        ).to(tl.float32)
    tl.store(
        out_ptr + n * son + z[None, :] * soc + oh * soh + ow * sow,
        acc.to(out_ptr.dtype.element_ty),
        mask=mask,
    )


@triton.jit(do_not_specialize=SIZE_ARGS + _size_strides('sx', 'sb', 'so'))
def context_forward_kernel(
    x_ptr,
    w1_ptr,
    w2_ptr,
    base_ptr,
    out_ptr,
    N,
    C,
    H,
    W,
    Z,
    Ho,
    Wo,
    ZS1,
    CS1,
    WIDTH0,
    WIDTH1,
    sxn,
    sxc,
    sxh,
    sxw,
    sbn,
    sbc,
    sbh,
    sbw,
    son,
    soc,
    soh,
    sow,
    STRIDE: tl.constexpr,
    EXPAND: tl.constexpr,
    MAX_WIDTH: tl.constexpr,
    HAS_S2: tl.constexpr,
    HAS_BASE: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_W: tl.constexpr,
    BLOCK_Z: tl.constexpr,
):
    """``out = base + s1 + s2(s1)``: one program per (image, strip of
    ``BLOCK_H`` output rows, ``BLOCK_W`` columns, ``BLOCK_Z`` channels).

    Grid: ``(N * cdiv(Ho, BLOCK_H) * cdiv(Wo, BLOCK_W), cdiv(Z, BLOCK_Z))``.
    With stage 2 the program walks stage-1 rows ``h0 - 1 .. h0 + BLOCK_H``;
    stage-1 row ``r`` is added to output rows ``r + 1, r, r - 1`` (accumulated
    in ``acc_next``, ``acc_cur``, ``acc_prev``) and row ``r - 1`` is then
    complete and stored.
    """
    pid = tl.program_id(0)
    n_w = tl.cdiv(Wo, BLOCK_W)
    n_h = tl.cdiv(Ho, BLOCK_H)
    w0 = pid % n_w * BLOCK_W
    h0 = pid // n_w % n_h * BLOCK_H
    n = pid // (n_w * n_h)
    z = tl.program_id(1) * BLOCK_Z + tl.arange(0, BLOCK_Z)
    z_ok = z < Z
    ow = (w0 + tl.arange(0, BLOCK_W))[:, None]
    x_n = x_ptr + n * sxn
    if HAS_S2:
        # stage-1 columns ow - 1, ow, ow + 1 exist only inside the output
        ok_l = (ow >= 1) & (ow <= Wo)
        ok_c = ow < Wo
        ok_r = ow + 1 < Wo
        acc_prev = tl.zeros([BLOCK_W, BLOCK_Z], tl.float32)
        acc_cur = tl.zeros([BLOCK_W, BLOCK_Z], tl.float32)
        for i in range(BLOCK_H + 2):
            r = h0 - 1 + i
            s_l, s_c, s_r = _stage1(
                x_n,
                w1_ptr,
                r,
                ow,
                z,
                z_ok,
                H,
                W,
                sxc,
                sxh,
                sxw,
                ZS1,
                CS1,
                WIDTH0,
                WIDTH1,
                STRIDE,
                EXPAND,
                MAX_WIDTH,
                3,
                BLOCK_W,
                BLOCK_Z,
            )
            row_ok = (r >= 0) & (r < Ho)
            s_l = tl.where(row_ok & ok_l, s_l, 0.0)
            s_c = tl.where(row_ok & ok_c, s_c, 0.0)
            s_r = tl.where(row_ok & ok_r, s_r, 0.0)
            acc_prev += _stage2_row(w2_ptr, z, z_ok, 2, s_l, s_c, s_r)
            acc_cur += s_c + _stage2_row(w2_ptr, z, z_ok, 1, s_l, s_c, s_r)
            acc_next = _stage2_row(w2_ptr, z, z_ok, 0, s_l, s_c, s_r)
            oh = r - 1
            mask = (oh >= h0) & (oh < Ho) & ok_c & z_ok[None, :]
            _store(
                out_ptr,
                base_ptr,
                n,
                oh,
                ow,
                z,
                acc_prev,
                mask,
                son,
                soc,
                soh,
                sow,
                sbn,
                sbc,
                sbh,
                sbw,
                HAS_BASE,
            )
            acc_prev = acc_cur
            acc_cur = acc_next
    else:
        for i in range(BLOCK_H):
            oh = h0 + i
            _, s_c, _ = _stage1(
                x_n,
                w1_ptr,
                oh,
                ow,
                z,
                z_ok,
                H,
                W,
                sxc,
                sxh,
                sxw,
                ZS1,
                CS1,
                WIDTH0,
                WIDTH1,
                STRIDE,
                EXPAND,
                MAX_WIDTH,
                1,
                BLOCK_W,
                BLOCK_Z,
            )
            mask = (oh < Ho) & (ow < Wo) & z_ok[None, :]
            _store(
                out_ptr,
                base_ptr,
                n,
                oh,
                ow,
                z,
                s_c,
                mask,
                son,
                soc,
                soh,
                sow,
                sbn,
                sbc,
                sbh,
                sbw,
                HAS_BASE,
            )


@triton.jit
def _patch(pid, rows, cols, BLOCK_H: tl.constexpr, BLOCK_W: tl.constexpr):
    """Image, rows ``[BLOCK_H * BLOCK_W, 1]`` and columns of a program's
    pixel patch in a ``rows x cols`` image."""
    n_w = tl.cdiv(cols, BLOCK_W)
    n_h = tl.cdiv(rows, BLOCK_H)
    p = tl.arange(0, BLOCK_H * BLOCK_W)
    h = pid // n_w % n_h * BLOCK_H + p // BLOCK_W
    w = pid % n_w * BLOCK_W + p % BLOCK_W
    return pid // (n_w * n_h), h[:, None], w[:, None]


@triton.jit(do_not_specialize=SIZE_ARGS + _size_strides('sg', 'sx', 'ss'))
def stage2_backward_kernel(
    g_ptr,
    x_ptr,
    w1_ptr,
    w2_ptr,
    gs_ptr,
    gw2_ptr,
    N,
    C,
    H,
    W,
    Z,
    Ho,
    Wo,
    ZS1,
    CS1,
    WIDTH0,
    WIDTH1,
    sgn,
    sgc,
    sgh,
    sgw,
    sxn,
    sxc,
    sxh,
    sxw,
    ssn,
    ssc,
    ssh,
    ssw,
    STRIDE: tl.constexpr,
    EXPAND: tl.constexpr,
    MAX_WIDTH: tl.constexpr,
    NEED_GS: tl.constexpr,
    NEED_W2: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_W: tl.constexpr,
    BLOCK_Z: tl.constexpr,
):
    """``gs = g + s2^T(g)`` (stored if ``NEED_GS``) and, if ``NEED_W2``,
    ``gw2[z, t] += sum_q s1[q] * g[q - d_t]`` (float32 atomics).

    Grid: ``(N * cdiv(Ho, BLOCK_H) * cdiv(Wo, BLOCK_W), cdiv(Z, BLOCK_Z))``,
    one output-pixel patch and channel block per program.
    """
    n, oh, ow = _patch(tl.program_id(0), Ho, Wo, BLOCK_H, BLOCK_W)
    z = tl.program_id(1) * BLOCK_Z + tl.arange(0, BLOCK_Z)
    z_ok = z < Z
    pix_ok = (oh < Ho) & (ow < Wo)
    if NEED_W2:
        _, s1, _ = _stage1(
            x_ptr + n * sxn,
            w1_ptr,
            oh,
            ow,
            z,
            z_ok,
            H,
            W,
            sxc,
            sxh,
            sxw,
            ZS1,
            CS1,
            WIDTH0,
            WIDTH1,
            STRIDE,
            EXPAND,
            MAX_WIDTH,
            1,
            BLOCK_H * BLOCK_W,
            BLOCK_Z,
        )
        s1 = tl.where(pix_ok, s1, 0.0)
    g_nz = g_ptr + n * sgn + z[None, :] * sgc
    gs = tl.load(
        g_nz + oh * sgh + ow * sgw, mask=pix_ok & z_ok[None, :], other=0.0
    ).to(tl.float32)
    for t in range(9):  # a loop, not unrolled (registers, see _stage1)
        gh = oh - (t // 3 - 1)
        gw = ow - (t % 3 - 1)
        g_t = tl.load(
            g_nz + gh * sgh + gw * sgw,
            mask=(gh >= 0) & (gh < Ho) & (gw >= 0) & (gw < Wo) & z_ok[None, :],
            other=0.0,
        ).to(tl.float32)
        if NEED_GS:
            w_t = tl.load(w2_ptr + z * 9 + t, mask=z_ok, other=0.0).to(
                tl.float32
            )
            gs += w_t[None, :] * g_t
        if NEED_W2:
            tl.atomic_add(
                gw2_ptr + z * 9 + t, tl.sum(s1 * g_t, axis=0), mask=z_ok
            )
    if NEED_GS:
        tl.store(
            gs_ptr + n * ssn + z[None, :] * ssc + oh * ssh + ow * ssw,
            gs.to(gs_ptr.dtype.element_ty),
            mask=pix_ok & z_ok[None, :],
        )


@triton.jit(do_not_specialize=SIZE_ARGS + _size_strides('ss', 'sx', 'sg'))
def stage1_backward_kernel(
    gs_ptr,
    x_ptr,
    w1_ptr,
    gx_ptr,
    gw1_ptr,
    N,
    C,
    H,
    W,
    Z,
    Ho,
    Wo,
    ZS1,
    CS1,
    WIDTH0,
    WIDTH1,
    ssn,
    ssc,
    ssh,
    ssw,
    sxn,
    sxc,
    sxh,
    sxw,
    sgn,
    sgc,
    sgh,
    sgw,
    STRIDE: tl.constexpr,
    EXPAND: tl.constexpr,
    MAX_WIDTH: tl.constexpr,
    NEED_X: tl.constexpr,
    NEED_W1: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_W: tl.constexpr,
    BLOCK_Z: tl.constexpr,
):
    """In input space, from ``gs`` (the gradient of ``s1``):
    ``gx[c, i] = sum_{m of c, t} w1[m, t] gs[z(m), (i - d_t) / STRIDE]`` and
    ``gw1[m, t] += sum_i x[c, i] gs[z(m), (i - d_t) / STRIDE]`` (atomics),
    both from the same loads; positions ``(i - d_t) / STRIDE`` that are not
    whole or fall outside the output read 0.

    Grid: ``(N * cdiv(H, BLOCK_H) * cdiv(W, BLOCK_W), cdiv(C, BLOCK_Z))``;
    ``BLOCK_Z`` counts input channels here and ``MAX_WIDTH`` is the largest
    ``e`` (Z > C) or 1.
    """
    n, ih, iw = _patch(tl.program_id(0), H, W, BLOCK_H, BLOCK_W)
    c = tl.program_id(1) * BLOCK_Z + tl.arange(0, BLOCK_Z)
    c_ok = c < C
    pix_ok = (ih < H) & (iw < W)
    if NEED_W1:
        xt = tl.load(
            x_ptr + n * sxn + c[None, :] * sxc + ih * sxh + iw * sxw,
            mask=pix_ok & c_ok[None, :],
            other=0.0,
        ).to(tl.float32)
    gx = tl.zeros([BLOCK_H * BLOCK_W, BLOCK_Z], tl.float32)
    for j in range(MAX_WIDTH):  # loops, not unrolled (see _stage1)
        member, z, valid = _c_members(c, j, ZS1, CS1, WIDTH0, WIDTH1, EXPAND)
        valid = valid & c_ok
        gs_nz = gs_ptr + n * ssn + z[None, :] * ssc
        for t in range(9):
            oh = ih - (t // 3 - 1)
            ow = iw - (t % 3 - 1)
            ok = (oh >= 0) & (ow >= 0) & valid[None, :]
            if STRIDE > 1:
                ok = ok & (oh % STRIDE == 0) & (ow % STRIDE == 0)
                oh = oh // STRIDE
                ow = ow // STRIDE
            ok = ok & (oh < Ho) & (ow < Wo) & pix_ok
            g_t = tl.load(gs_nz + oh * ssh + ow * ssw, mask=ok, other=0.0).to(
                tl.float32
            )
            if NEED_X:
                w_t = tl.load(
                    w1_ptr + member * 9 + t, mask=valid, other=0.0
                ).to(tl.float32)
                gx += w_t[None, :] * g_t
            if NEED_W1:
                tl.atomic_add(
                    gw1_ptr + member * 9 + t,
                    tl.sum(xt * g_t, axis=0),
                    mask=valid,
                )
    if NEED_X:
        tl.store(
            gx_ptr + n * sgn + c[None, :] * sgc + ih * sgh + iw * sgw,
            gx.to(gx_ptr.dtype.element_ty),
            mask=pix_ok & c_ok[None, :],
        )
