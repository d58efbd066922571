;; Training kernel: a run of BPR steps of one user and one positive item against
;; several negative items, four lanes at a time (WebAssembly SIMD), in float32.
;; The host copies the vectors into slots and back (src/model/sgd-kernel.ts);
;; every pointer is a byte offset. `scripts/build-kernel.ts` compiles this file
;; into sgd-kernel-wasm.ts.
(module
  (memory (export "memory") 1)

  ;; e^x for |x| <= 40 to about 1e-8 relative, enough for a step that is taken in float32: x is
  ;; n ln 2 + r with |r| <= ln 2 / 2, e^r by its Taylor series to r^7, times 2^n from its bits.
  ;; (A call out to the host's Math.exp cost more than the rest of a step.)
  (func $exp (export "exp") (param $x f64) (result f64)
    (local $n f64) (local $r f64) (local $e f64)
    ;; NaN goes through, as Math.exp lets it (the conversion to an integer below would trap).
    (if (f64.ne (local.get $x) (local.get $x)) (then (return (local.get $x))))
    (local.set $x (f64.min (f64.const 40) (f64.max (f64.const -40) (local.get $x))))
    (local.set $n (f64.nearest (f64.mul (local.get $x) (f64.const 1.4426950408889634))))
    ;; r = x - n ln 2, with ln 2 in two parts so that the product is exact
    (local.set $r
      (f64.sub
        (f64.sub (local.get $x) (f64.mul (local.get $n) (f64.const 0.6931471803691238)))
        (f64.mul (local.get $n) (f64.const 1.9082149292705877e-10))))
    (local.set $e (f64.const 0.0001984126984126984))
    (local.set $e (f64.add (f64.const 0.001388888888888889) (f64.mul (local.get $r) (local.get $e))))
    (local.set $e (f64.add (f64.const 0.008333333333333333) (f64.mul (local.get $r) (local.get $e))))
    (local.set $e (f64.add (f64.const 0.041666666666666664) (f64.mul (local.get $r) (local.get $e))))
    (local.set $e (f64.add (f64.const 0.16666666666666666) (f64.mul (local.get $r) (local.get $e))))
    (local.set $e (f64.add (f64.const 0.5) (f64.mul (local.get $r) (local.get $e))))
    (local.set $e (f64.add (f64.const 1) (f64.mul (local.get $r) (local.get $e))))
    (local.set $e (f64.add (f64.const 1) (f64.mul (local.get $r) (local.get $e))))
    (f64.mul (local.get $e)
      (f64.reinterpret_i64
        (i64.shl (i64.add (i64.trunc_f64_s (local.get $n)) (i64.const 1023)) (i64.const 52)))))

  ;; Slot s holds a vector of `dims` floats at $vecs + s * 4 * dims (dims a multiple of 4)
  ;; and a float64 bias at $biases + 8 * s. Slot 0 is the user, slot 1 the positive item;
  ;; $order lists the slot (i32) of each of the `count` negatives, in order, and a slot may
  ;; appear more than once, or be 1. Each step is the one of pairStep (src/model/sgd.ts):
  ;;   x = b1 - bj + p . (qi - qj);  g = weight * sigmoid(-x)
  ;;   p += lr (g (qi - qj) - reg p);  qi += lr (g p - reg qi);  qj += lr (-g p - reg qj)
  ;;   b1 += blr (g - breg b1);  bj += blr (-g - breg bj)   (biases only when $bias is 1)
  ;; reading p, qi and qj before writing them, and writing qj after qi.
  (func (export "pairs")
    (param $vecs i32) (param $dims i32) (param $biases i32) (param $order i32) (param $count i32)
    (param $lr f32) (param $reg f32) (param $blr f64) (param $breg f64) (param $weight f64)
    (param $bias i32)
    (local $stride i32) (local $i i32) (local $f i32) (local $qi i32) (local $qj i32) (local $j i32)
    (local $acc v128) (local $pf v128) (local $qif v128) (local $qjf v128)
    (local $gv v128) (local $lrv v128) (local $regv v128)
    (local $x f64) (local $g f64) (local $b f64)
    (local.set $stride (i32.shl (local.get $dims) (i32.const 2)))
    (local.set $qi (i32.add (local.get $vecs) (local.get $stride)))
    (local.set $lrv (f32x4.splat (local.get $lr)))
    (local.set $regv (f32x4.splat (local.get $reg)))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $j (i32.load (i32.add (local.get $order) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $qj (i32.add (local.get $vecs) (i32.mul (local.get $j) (local.get $stride))))
        ;; x: the biases' difference plus p . (qi - qj)
        (local.set $acc (v128.const i32x4 0 0 0 0))
        (local.set $f (i32.const 0))
        (block $dot_done
          (loop $dot
            (br_if $dot_done (i32.ge_u (local.get $f) (local.get $stride)))
            (local.set $acc
              (f32x4.add (local.get $acc)
                (f32x4.mul
                  (v128.load (i32.add (local.get $vecs) (local.get $f)))
                  (f32x4.sub
                    (v128.load (i32.add (local.get $qi) (local.get $f)))
                    (v128.load (i32.add (local.get $qj) (local.get $f)))))))
            (local.set $f (i32.add (local.get $f) (i32.const 16)))
            (br $dot)))
        (local.set $x
          (f64.add
            (f64.sub
              (f64.load offset=8 (local.get $biases))
              (f64.load (i32.add (local.get $biases) (i32.shl (local.get $j) (i32.const 3)))))
            (f64.promote_f32
              (f32.add
                (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
                (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))))
        ;; g = weight * sigmoid(-x) = weight / (1 + e^x)
        (local.set $g
          (f64.div (local.get $weight) (f64.add (f64.const 1) (call $exp (local.get $x)))))
        (local.set $gv (f32x4.splat (f32.demote_f64 (local.get $g))))
        (local.set $f (i32.const 0))
        (block $update_done
          (loop $update
            (br_if $update_done (i32.ge_u (local.get $f) (local.get $stride)))
            (local.set $pf (v128.load (i32.add (local.get $vecs) (local.get $f))))
            (local.set $qif (v128.load (i32.add (local.get $qi) (local.get $f))))
            (local.set $qjf (v128.load (i32.add (local.get $qj) (local.get $f))))
            (v128.store (i32.add (local.get $vecs) (local.get $f))
              (f32x4.add (local.get $pf)
                (f32x4.mul (local.get $lrv)
                  (f32x4.sub
                    (f32x4.mul (local.get $gv) (f32x4.sub (local.get $qif) (local.get $qjf)))
                    (f32x4.mul (local.get $regv) (local.get $pf))))))
            (v128.store (i32.add (local.get $qi) (local.get $f))
              (f32x4.add (local.get $qif)
                (f32x4.mul (local.get $lrv)
                  (f32x4.sub
                    (f32x4.mul (local.get $gv) (local.get $pf))
                    (f32x4.mul (local.get $regv) (local.get $qif))))))
            (v128.store (i32.add (local.get $qj) (local.get $f))
              (f32x4.add (local.get $qjf)
                (f32x4.mul (local.get $lrv)
                  (f32x4.sub
                    (f32x4.neg (f32x4.mul (local.get $gv) (local.get $pf)))
                    (f32x4.mul (local.get $regv) (local.get $qjf))))))
            (local.set $f (i32.add (local.get $f) (i32.const 16)))
            (br $update)))
        (if (local.get $bias)
          (then
            (local.set $b (f64.load offset=8 (local.get $biases)))
            (f64.store offset=8 (local.get $biases)
              (f64.add (local.get $b)
                (f64.mul (local.get $blr)
                  (f64.sub (local.get $g) (f64.mul (local.get $breg) (local.get $b))))))
            ;; Read after the positive's write: the negative may be the positive itself.
            (local.set $b (f64.load (i32.add (local.get $biases) (i32.shl (local.get $j) (i32.const 3)))))
            (f64.store (i32.add (local.get $biases) (i32.shl (local.get $j) (i32.const 3)))
              (f64.add (local.get $b)
                (f64.mul (local.get $blr)
                  (f64.sub (f64.neg (local.get $g)) (f64.mul (local.get $breg) (local.get $b))))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $step)))))
