;; Scoring kernel of the serving index: dot products of one query vector with
;; many rows of a row-major float32 table, four lanes at a time (WebAssembly
;; SIMD). The host lays out the memory; every pointer is a byte offset.
;; `scripts/build-kernel.ts` compiles this file into dot-kernel-wasm.ts.
(module
  (memory (export "memory") 1)

  ;; The dot product of `dims` floats at $q and at $at, summed in float32.
  (func $dot (param $q i32) (param $at i32) (param $dims i32) (result f32)
    (local $end i32) (local $end8 i32) (local $a v128) (local $b v128) (local $sum f32)
    (local.set $end (i32.add (local.get $at) (i32.shl (local.get $dims) (i32.const 2))))
    ;; Two running sums of eight floats a step, so that the multiplications overlap.
    (local.set $end8
      (i32.add (local.get $at)
        (i32.shl (i32.and (local.get $dims) (i32.const -8)) (i32.const 2))))
    (local.set $a (v128.const i32x4 0 0 0 0))
    (local.set $b (v128.const i32x4 0 0 0 0))
    (block $eights_done
      (loop $eights
        (br_if $eights_done (i32.ge_u (local.get $at) (local.get $end8)))
        (local.set $a
          (f32x4.add (local.get $a)
            (f32x4.mul (v128.load (local.get $q)) (v128.load (local.get $at)))))
        (local.set $b
          (f32x4.add (local.get $b)
            (f32x4.mul (v128.load offset=16 (local.get $q)) (v128.load offset=16 (local.get $at)))))
        (local.set $q (i32.add (local.get $q) (i32.const 32)))
        (local.set $at (i32.add (local.get $at) (i32.const 32)))
        (br $eights)))
    ;; Four more floats when dims mod 8 is 4 or more.
    (if (i32.and (local.get $dims) (i32.const 4))
      (then
        (local.set $a
          (f32x4.add (local.get $a)
            (f32x4.mul (v128.load (local.get $q)) (v128.load (local.get $at)))))
        (local.set $q (i32.add (local.get $q) (i32.const 16)))
        (local.set $at (i32.add (local.get $at) (i32.const 16)))))
    (local.set $a (f32x4.add (local.get $a) (local.get $b)))
    (local.set $sum
      (f32.add
        (f32.add (f32x4.extract_lane 0 (local.get $a)) (f32x4.extract_lane 1 (local.get $a)))
        (f32.add (f32x4.extract_lane 2 (local.get $a)) (f32x4.extract_lane 3 (local.get $a)))))
    ;; The last dims mod 4 floats, one at a time.
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $sum
          (f32.add (local.get $sum)
            (f32.mul (f32.load (local.get $q)) (f32.load (local.get $at)))))
        (local.set $q (i32.add (local.get $q) (i32.const 4)))
        (local.set $at (i32.add (local.get $at) (i32.const 4)))
        (br $tail)))
    (local.get $sum))

  ;; out[i] = dot(query, table row rows[i]) for i < count, as float32.
  ;; Rows are `dims` floats long; dims need not be a multiple of 4.
  (func (export "dots")
    (param $query i32) (param $table i32) (param $dims i32)
    (param $rows i32) (param $count i32) (param $out i32)
    (local $i i32) (local $stride i32)
    (local.set $stride (i32.shl (local.get $dims) (i32.const 2)))
    (block $rows_done
      (loop $row
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $count)))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
          (call $dot
            (local.get $query)
            (i32.add (local.get $table)
              (i32.mul
                (i32.load (i32.add (local.get $rows) (i32.shl (local.get $i) (i32.const 2))))
                (local.get $stride)))
            (local.get $dims)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $row))))

  ;; Scores rows $start to $end - 1: each row's float64 at $bias plus its float32 dot
  ;; product with the query. Rows scoring above $floor are written out, row number at $rows
  ;; and score at $scores (float64), in row order; returns how many.
  (func (export "scan")
    (param $query i32) (param $table i32) (param $dims i32)
    (param $start i32) (param $end i32) (param $bias i32) (param $floor f64)
    (param $rows i32) (param $scores i32) (result i32)
    (local $row i32) (local $n i32) (local $stride i32) (local $score f64)
    (local.set $stride (i32.shl (local.get $dims) (i32.const 2)))
    (local.set $row (local.get $start))
    (block $rows_done
      (loop $each
        (br_if $rows_done (i32.ge_u (local.get $row) (local.get $end)))
        (local.set $score
          (f64.add
            (f64.load (i32.add (local.get $bias) (i32.shl (local.get $row) (i32.const 3))))
            (f64.promote_f32
              (call $dot
                (local.get $query)
                (i32.add (local.get $table) (i32.mul (local.get $row) (local.get $stride)))
                (local.get $dims)))))
        (if (f64.gt (local.get $score) (local.get $floor))
          (then
            (i32.store (i32.add (local.get $rows) (i32.shl (local.get $n) (i32.const 2))) (local.get $row))
            (f64.store (i32.add (local.get $scores) (i32.shl (local.get $n) (i32.const 3))) (local.get $score))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $each)))
    (local.get $n)))
