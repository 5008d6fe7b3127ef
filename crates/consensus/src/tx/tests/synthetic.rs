//! Synthetic RingCT transactions, signed here: the whole verification path, and each way a
//! transaction can be broken.

use std::sync::LazyLock;

use monero_oxide::{
    ed25519::{Commitment, CompressedPoint, Scalar},
    ringct::EncryptedAmount,
    transaction::{Input, Output, Transaction},
};
use rand_core_v06::OsRng;

use super::build::{CHAIN_HEIGHT, Spec, TestChain, build, build_transaction, clsag_parts};
use crate::{
    HardFork,
    tx::{
        Context, ProofKind, Reason, RingData, SemanticRules, Tx, TxError, TxHash, VerifiedTx,
        batch, contextual,
        policy::{self, FeePolicy},
        semantic::{self, CheckedTx},
        unlock,
    },
};

/// One synthetic chain shared by the tests (building outputs is cheap, signing is not).
pub(crate) static CHAIN: LazyLock<TestChain> = LazyLock::new(|| TestChain::new(3_000, 60));

fn rules(hf: HardFork) -> SemanticRules {
    SemanticRules::for_block(hf, 600_000)
}

fn ctx() -> Context {
    Context::new(CHAIN_HEIGHT, 1_700_000_000)
}

fn check(tx: Tx, hf: HardFork) -> Result<CheckedTx, TxError> {
    semantic::check(tx, &rules(hf))
}

fn verify_with(
    tx: Tx,
    hf: HardFork,
    alter: impl FnOnce(&mut RingData),
) -> Result<VerifiedTx, TxError> {
    let checked = check(tx, hf)?;
    let mut data = CHAIN.ring_data(&checked.ring_request());
    alter(&mut data);
    contextual::verify(checked, &ctx(), &data)
}

fn verify(tx: Tx) -> Result<VerifiedTx, TxError> {
    verify_with(tx, HardFork::V16, |_| {})
}

fn reencode(tx: Transaction) -> Tx {
    Tx::from_transaction(&tx).unwrap()
}

#[test]
fn type_6_transactions_with_16_member_rings_verify_fully() {
    for (inputs, outputs) in [(1, 2), (2, 2), (3, 5), (4, 16)] {
        let spec = Spec::type6((0..inputs).collect(), outputs);
        let tx = build(&CHAIN, &spec);
        let hash = tx.hash();
        let weight = tx.weight();
        let images: Vec<[u8; 32]> = tx.key_images().collect();
        let verified = verify(tx).unwrap_or_else(|e| panic!("{inputs} in, {outputs} out: {e}"));
        assert_eq!(verified.hash(), hash);
        assert_eq!(verified.weight(), weight);
        assert_eq!(verified.fee, spec.fee);
        assert_eq!(verified.key_images, images);
        assert_eq!(verified.outputs.len(), outputs);
        assert!(
            verified
                .outputs
                .iter()
                .all(|o| o.amount == 0 && o.commitment.is_some() && o.view_tag.is_some())
        );
        assert!(verified.newest_ring_member_height < CHAIN_HEIGHT);
        // More than two outputs: the weight includes the Bulletproof+ clawback.
        assert_eq!(weight > verified.tx.blob().len() as u64, outputs > 2);
    }
}

#[test]
fn type_5_clsag_with_bulletproof_verifies_at_hard_forks_13_to_15_only() {
    // Ring size 11, the size of hard forks 8 to 15.
    let spec = Spec {
        plus: false,
        view_tags: false,
        ring_size: 11,
        ..Spec::type6(vec![5], 2)
    };
    let tx = build(&CHAIN, &spec);
    for hf in [HardFork::V13, HardFork::V14, HardFork::V15] {
        verify_with(tx.clone(), hf, |_| {}).unwrap_or_else(|e| panic!("{hf:?}: {e}"));
    }
    assert_eq!(
        check(tx, HardFork::V12).unwrap_err().reason,
        Reason::RctTypeNotAllowed {
            rct_type: 5,
            hard_fork: HardFork::V12
        }
    );
    let tagged = build(
        &CHAIN,
        &Spec {
            view_tags: true,
            ..spec
        },
    );
    assert_eq!(
        check(tagged, HardFork::V16).unwrap_err().reason,
        Reason::RctTypeNotAllowed {
            rct_type: 5,
            hard_fork: HardFork::V16
        }
    );
}

#[test]
fn type_6_is_refused_before_hard_fork_15_and_view_tags_follow_the_fork() {
    let untagged = build(
        &CHAIN,
        &Spec {
            view_tags: false,
            ..Spec::type6(vec![6], 2)
        },
    );
    assert_eq!(
        check(untagged.clone(), HardFork::V14).unwrap_err().reason,
        Reason::RctTypeNotAllowed {
            rct_type: 6,
            hard_fork: HardFork::V14
        }
    );
    // Hard fork 15 takes either output type, 16 only tagged outputs.
    verify_with(untagged.clone(), HardFork::V15, |_| {}).unwrap();
    assert_eq!(
        check(untagged, HardFork::V16).unwrap_err().reason,
        Reason::OutputTypeNotAllowed {
            output: 0,
            tagged: false,
            hard_fork: HardFork::V16
        }
    );
    let tagged = build(&CHAIN, &Spec::type6(vec![6], 2));
    assert_eq!(
        check(tagged, HardFork::V14).unwrap_err().reason,
        Reason::OutputTypeNotAllowed {
            output: 0,
            tagged: true,
            hard_fork: HardFork::V14
        }
    );
    // Hard fork 15: one type for all outputs.
    let mut mixed = build_transaction(&CHAIN, &Spec::type6(vec![6], 2));
    mixed.prefix_mut().outputs[1].view_tag = None;
    assert_eq!(
        check(reencode(mixed), HardFork::V15).unwrap_err().reason,
        Reason::MixedOutputTypes { output: 1 }
    );
}

#[test]
fn a_broken_clsag_is_rejected_naming_the_input() {
    let mut tx = build_transaction(&CHAIN, &Spec::type6(vec![7, 8], 2));
    let (clsags, _) = clsag_parts(&mut tx);
    clsags[1].s[3] = Scalar::random(&mut OsRng);
    let err = verify(reencode(tx)).unwrap_err();
    assert_eq!(
        err.reason,
        Reason::InvalidSignature {
            kind: ProofKind::Clsag,
            input: 1
        }
    );

    let mut tx = build_transaction(&CHAIN, &Spec::type6(vec![7, 8], 2));
    let (clsags, _) = clsag_parts(&mut tx);
    clsags[0].c1 = Scalar::random(&mut OsRng);
    let err = verify(reencode(tx)).unwrap_err();
    assert_eq!(
        err.reason,
        Reason::InvalidSignature {
            kind: ProofKind::Clsag,
            input: 0
        }
    );
}

#[test]
fn a_broken_bulletproof_plus_is_rejected_before_any_chain_data_is_needed() {
    let tx = build(&CHAIN, &Spec::type6(vec![9], 2));
    let Transaction::V2 {
        proofs: Some(proofs),
        ..
    } = tx.transaction()
    else {
        panic!()
    };
    let monero_oxide::ringct::RctPrunable::Clsag { bulletproof, .. } = &proofs.prunable else {
        panic!()
    };
    let bp = bulletproof.serialize();
    let start = tx
        .blob()
        .windows(bp.len())
        .position(|w| w == bp.as_slice())
        .unwrap();
    // Bytes 96.. of a Bulletproof+ are the scalar `r1`: flipping its low bit keeps it
    // canonical, so the proof decodes and fails to verify.
    let mut blob = tx.blob().to_vec();
    blob[start + 96] ^= 1;
    let broken = Tx::parse(&blob).unwrap();
    let err = check(broken, HardFork::V16).unwrap_err();
    assert_eq!(
        err.reason,
        Reason::InvalidRangeProof {
            kind: ProofKind::BulletproofPlus,
            output: None
        }
    );
    // A point of the proof that is not on the curve.
    let mut blob = tx.blob().to_vec();
    let mut byte = 0;
    loop {
        blob[start..start + 32].copy_from_slice(&[byte; 32]);
        if !crate::tx::points::is_valid_point(&[byte; 32]) {
            break;
        }
        byte += 1;
    }
    let err = check(Tx::parse(&blob).unwrap(), HardFork::V16).unwrap_err();
    assert_eq!(
        err.reason,
        Reason::InvalidRangeProof {
            kind: ProofKind::BulletproofPlus,
            output: None
        }
    );
}

#[test]
fn pseudo_outputs_must_balance_and_belong_to_their_input() {
    // A different pseudo-output: the commitments no longer balance.
    let mut tx = build_transaction(&CHAIN, &Spec::type6(vec![10, 11], 2));
    let (_, pseudo_outs) = clsag_parts(&mut tx);
    pseudo_outs[0] = Commitment::new(Scalar::random(&mut OsRng), 5)
        .commit()
        .compress();
    assert_eq!(
        check(reencode(tx), HardFork::V16).unwrap_err().reason,
        Reason::Unbalanced
    );

    // Swapped pseudo-outputs still balance, but each CLSAG signed for its own.
    let mut tx = build_transaction(&CHAIN, &Spec::type6(vec![10, 11], 2));
    let (_, pseudo_outs) = clsag_parts(&mut tx);
    pseudo_outs.swap(0, 1);
    let err = verify(reencode(tx)).unwrap_err();
    assert_eq!(
        err.reason,
        Reason::InvalidSignature {
            kind: ProofKind::Clsag,
            input: 0
        }
    );

    // A pseudo-output that is not a point.
    let mut tx = build_transaction(&CHAIN, &Spec::type6(vec![10, 11], 2));
    let (_, pseudo_outs) = clsag_parts(&mut tx);
    let mut bad = [0u8; 32];
    bad[31] = 0x80;
    bad[0] = 1;
    pseudo_outs[1] = CompressedPoint::from(bad);
    assert_eq!(
        check(reencode(tx), HardFork::V16).unwrap_err().reason,
        Reason::InvalidCommitment {
            what: "pseudo-output",
            index: 1
        }
    );

    // A fee that is not the difference.
    let mut tx = build_transaction(&CHAIN, &Spec::type6(vec![10], 2));
    if let Transaction::V2 {
        proofs: Some(proofs),
        ..
    } = &mut tx
    {
        proofs.base.fee += 1;
    }
    assert_eq!(
        check(reencode(tx), HardFork::V16).unwrap_err().reason,
        Reason::Unbalanced
    );
}

#[test]
fn spent_key_images_are_rejected_on_the_chain_in_the_transaction_and_in_the_block() {
    let tx = build(&CHAIN, &Spec::type6(vec![12], 2));
    let err = verify_with(tx, HardFork::V16, |d| d.inputs[0].key_image_spent = true).unwrap_err();
    assert_eq!(err.reason, Reason::KeyImageSpent { input: 0 });

    // The same output spent by two inputs of one transaction.
    let twice = build(&CHAIN, &Spec::type6(vec![13, 13], 2));
    assert_eq!(
        check(twice, HardFork::V16).unwrap_err().reason,
        Reason::DuplicateKeyImage { input: 1, first: 0 }
    );

    // The same output spent by two transactions of one block (each valid alone).
    let a = build(&CHAIN, &Spec::type6(vec![14], 2));
    let b = build(&CHAIN, &Spec::type6(vec![15, 14], 2));
    verify(a.clone()).unwrap();
    verify(b.clone()).unwrap();
    let input_of_b = b
        .key_images()
        .position(|k| k == CHAIN.owned[14].key_image())
        .unwrap();
    let err = batch::check_block(vec![a.clone(), b.clone()], &rules(HardFork::V16)).unwrap_err();
    assert_eq!(err.hash(), Some(b.hash()));
    assert_eq!(
        err.reason,
        Reason::KeyImageSpentInBatch {
            input: input_of_b,
            other: TxHash(a.hash())
        }
    );
    // The contextual block check refuses it too.
    let items: Vec<(CheckedTx, RingData)> = [a, b]
        .into_iter()
        .map(|tx| {
            let checked = check(tx, HardFork::V16).unwrap();
            let data = CHAIN.ring_data(&checked.ring_request());
            (checked, data)
        })
        .collect();
    let err = batch::verify_block(items, &ctx()).unwrap_err();
    assert!(matches!(err.reason, Reason::KeyImageSpentInBatch { .. }));
}

#[test]
fn ring_members_must_exist_be_unlocked_and_old_enough() {
    let tx = build(&CHAIN, &Spec::type6(vec![16], 2));
    let index = check(tx.clone(), HardFork::V16)
        .unwrap()
        .ring_request()
        .inputs[0]
        .indices[5];

    let err =
        verify_with(tx.clone(), HardFork::V16, |d| d.inputs[0].members[5] = None).unwrap_err();
    assert_eq!(
        err.reason,
        Reason::RingMemberMissing {
            input: 0,
            member: 5,
            index
        }
    );

    // Own unlock time as a height: unlocked one block early, not two.
    let at = |unlock_time| {
        move |d: &mut RingData| d.inputs[0].members[5].as_mut().unwrap().unlock_time = unlock_time
    };
    verify_with(tx.clone(), HardFork::V16, at(CHAIN_HEIGHT)).unwrap();
    let err = verify_with(tx.clone(), HardFork::V16, at(CHAIN_HEIGHT + 1)).unwrap_err();
    assert_eq!(
        err.reason,
        Reason::RingMemberLocked {
            input: 0,
            member: 5,
            unlock_time: CHAIN_HEIGHT + 1
        }
    );
    // As a Unix time: one block time of leeway after the reference time.
    let now = ctx().time;
    verify_with(tx.clone(), HardFork::V16, at(now + 120)).unwrap();
    assert!(matches!(
        verify_with(tx.clone(), HardFork::V16, at(now + 121))
            .unwrap_err()
            .reason,
        Reason::RingMemberLocked { .. }
    ));

    // monerod 0.18's block rule by default (any earlier block); the wallets' ten blocks on
    // request.
    let height = |h, coinbase| {
        move |d: &mut RingData| {
            let m = d.inputs[0].members[5].as_mut().unwrap();
            m.height = h;
            m.is_coinbase = coinbase;
        }
    };
    let checked = check(tx.clone(), HardFork::V16).unwrap();
    let mut data = CHAIN.ring_data(&checked.ring_request());
    height(CHAIN_HEIGHT - 1, false)(&mut data);
    contextual::verify(checked.clone(), &ctx(), &data).unwrap();
    let strict = ctx().with_min_ring_member_age(unlock::DEFAULT_SPENDABLE_AGE);
    height(CHAIN_HEIGHT - 10, false)(&mut data);
    contextual::verify(checked.clone(), &strict, &data).unwrap();
    height(CHAIN_HEIGHT - 9, false)(&mut data);
    let err = contextual::verify(checked.clone(), &strict, &data).unwrap_err();
    assert_eq!(
        err.reason,
        Reason::RingMemberTooYoung {
            input: 0,
            member: 5,
            height: CHAIN_HEIGHT - 9
        }
    );
    let lenient = ctx();
    // Not from the block itself, whatever the age asked.
    height(CHAIN_HEIGHT, false)(&mut data);
    assert!(matches!(
        contextual::verify(checked.clone(), &ctx().with_min_ring_member_age(0), &data)
            .unwrap_err()
            .reason,
        Reason::RingMemberTooYoung { .. }
    ));
    // Coinbase outputs: 60 blocks.
    height(CHAIN_HEIGHT - 59, true)(&mut data);
    assert!(matches!(
        contextual::verify(checked.clone(), &lenient, &data)
            .unwrap_err()
            .reason,
        Reason::RingMemberTooYoung { .. }
    ));
    height(CHAIN_HEIGHT - unlock::COINBASE_UNLOCK_WINDOW, true)(&mut data);
    contextual::verify(checked, &lenient, &data).unwrap();
}

#[test]
fn ring_data_from_storage_must_match_the_request() {
    let tx = build(&CHAIN, &Spec::type6(vec![17, 18], 2));
    // Another commitment for a ring member: the CLSAG does not verify.
    let err = verify_with(tx.clone(), HardFork::V16, |d| {
        d.inputs[1].members[0].as_mut().unwrap().commitment = Some(
            Commitment::new(Scalar::ONE, 1)
                .commit()
                .compress()
                .to_bytes(),
        );
    })
    .unwrap_err();
    assert_eq!(
        err.reason,
        Reason::InvalidSignature {
            kind: ProofKind::Clsag,
            input: 1
        }
    );
    // Shapes that do not fit are errors, not panics.
    let err = verify_with(tx.clone(), HardFork::V16, |d| {
        d.inputs.pop();
    })
    .unwrap_err();
    assert!(matches!(err.reason, Reason::RingDataMismatch { .. }));
    let err = verify_with(tx.clone(), HardFork::V16, |d| {
        d.inputs[0].members.pop();
    })
    .unwrap_err();
    assert_eq!(
        err.reason,
        Reason::RingDataMismatch {
            input: 0,
            problem: "wrong number of ring members"
        }
    );
    let err = verify_with(tx, HardFork::V16, |d| {
        d.inputs[0].members[2].as_mut().unwrap().commitment = None;
    })
    .unwrap_err();
    assert!(matches!(
        err.reason,
        Reason::RingDataMismatch { input: 0, .. }
    ));
}

#[test]
fn key_images_must_be_valid_sorted_and_rings_distinct() {
    // A key image with a torsion component.
    let mut tx = build_transaction(&CHAIN, &Spec::type6(vec![19], 2));
    if let Input::ToKey { key_image, .. } = &mut tx.prefix_mut().inputs[0] {
        let point = curve25519_dalek_v4::edwards::CompressedEdwardsY(key_image.to_bytes())
            .decompress()
            .unwrap();
        let torsioned = point + curve25519_dalek_v4::constants::EIGHT_TORSION[1];
        *key_image = CompressedPoint::from(torsioned.compress().to_bytes());
    }
    assert_eq!(
        check(reencode(tx), HardFork::V16).unwrap_err().reason,
        Reason::InvalidKeyImage { input: 0 }
    );

    // Inputs out of key-image order.
    let mut tx = build_transaction(&CHAIN, &Spec::type6(vec![20, 21], 2));
    tx.prefix_mut().inputs.swap(0, 1);
    assert_eq!(
        check(reencode(tx), HardFork::V16).unwrap_err().reason,
        Reason::UnsortedInputs { input: 1 }
    );

    // The same ring member twice.
    let mut tx = build_transaction(&CHAIN, &Spec::type6(vec![20], 2));
    if let Input::ToKey { key_offsets, .. } = &mut tx.prefix_mut().inputs[0] {
        key_offsets[3] = 0;
    }
    assert_eq!(
        check(reencode(tx), HardFork::V16).unwrap_err().reason,
        Reason::DuplicateRingMember {
            input: 0,
            member: 3
        }
    );
}

#[test]
fn ring_sizes_follow_the_fork() {
    let small = build(
        &CHAIN,
        &Spec {
            ring_size: 11,
            ..Spec::type6(vec![22], 2)
        },
    );
    assert_eq!(
        check(small.clone(), HardFork::V16).unwrap_err().reason,
        Reason::RingSizeNotAllowed {
            size: 11,
            hard_fork: HardFork::V16
        }
    );
    // Hard fork 15 allowed 11 or 16 (view tags optional there).
    verify_with(small, HardFork::V15, |_| {}).unwrap();
    let large = build(
        &CHAIN,
        &Spec {
            ring_size: 17,
            ..Spec::type6(vec![22], 2)
        },
    );
    assert_eq!(
        check(large, HardFork::V16).unwrap_err().reason,
        Reason::RingSizeNotAllowed {
            size: 17,
            hard_fork: HardFork::V16
        }
    );
}

#[test]
fn output_counts_and_weight_are_limited() {
    // One output: too few from hard fork 12.
    let one = build(&CHAIN, &Spec::type6(vec![23], 1));
    assert_eq!(
        check(one, HardFork::V16).unwrap_err().reason,
        Reason::TooFewOutputs { outputs: 1, min: 2 }
    );

    // Seventeen outputs: more than a Bulletproof+ covers.
    let mut tx = build_transaction(&CHAIN, &Spec::type6(vec![23], 16));
    let extra_output = tx.prefix().outputs[0].clone();
    tx.prefix_mut().outputs.push(Output { ..extra_output });
    if let Transaction::V2 {
        proofs: Some(proofs),
        ..
    } = &mut tx
    {
        proofs.base.commitments.push(proofs.base.commitments[0]);
        proofs
            .base
            .encrypted_amounts
            .push(EncryptedAmount::Compact { amount: [0; 8] });
    }
    assert_eq!(
        check(reencode(tx), HardFork::V16).unwrap_err().reason,
        Reason::TooManyOutputs {
            outputs: 17,
            max: 16
        }
    );

    // Heavier than the block allows.
    let tx = build(&CHAIN, &Spec::type6(vec![24], 2));
    let limit = tx.weight() - 1;
    let err = semantic::check(
        tx,
        &SemanticRules {
            hard_fork: HardFork::V16,
            max_weight: limit,
        },
    )
    .unwrap_err();
    assert!(matches!(err.reason, Reason::TooHeavy { .. }));
}

#[test]
fn the_pool_limits_extra_and_fee() {
    let tx = build(&CHAIN, &Spec::type6(vec![25], 2));
    let checked = check(tx, HardFork::V16).unwrap();
    policy::check_relay(&checked, None).unwrap();
    let cheap = FeePolicy {
        fee_per_byte: 20,
        quantization_mask: 10_000,
    };
    policy::check_relay(&checked, Some(&cheap)).unwrap();
    let dear = FeePolicy {
        fee_per_byte: 1_000_000,
        quantization_mask: 10_000,
    };
    assert!(matches!(
        policy::check_relay(&checked, Some(&dear))
            .unwrap_err()
            .reason,
        Reason::FeeTooLow { .. }
    ));

    let mut tx = build_transaction(&CHAIN, &Spec::type6(vec![25], 2));
    tx.prefix_mut()
        .extra
        .resize(policy::MAX_TX_EXTRA_SIZE + 1, 0);
    // The signatures no longer match, but blocks do not limit extra: the semantic step passes.
    let checked = check(reencode(tx), HardFork::V16).unwrap();
    assert_eq!(
        policy::check_relay(&checked, None).unwrap_err().reason,
        Reason::ExtraTooLarge {
            size: policy::MAX_TX_EXTRA_SIZE + 1,
            limit: policy::MAX_TX_EXTRA_SIZE
        }
    );
}

/// Builds `n` valid type-6 transactions from owned outputs `first..first + n`.
pub(crate) fn block_of(first: usize, n: usize) -> Vec<Tx> {
    (first..first + n)
        .map(|i| build(&CHAIN, &Spec::type6(vec![i], 2)))
        .collect()
}

#[test]
fn a_block_verifies_in_parallel_and_the_bad_transaction_is_named() {
    let txs = block_of(30, 8);
    let hashes: Vec<[u8; 32]> = txs.iter().map(Tx::hash).collect();

    // Whole block, on one thread and on two: the same answer.
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let verified = pool.install(|| {
            let checked = batch::check_block(txs.clone(), &rules(HardFork::V16)).unwrap();
            let items = checked
                .into_iter()
                .map(|c| {
                    let data = CHAIN.ring_data(&c.ring_request());
                    (c, data)
                })
                .collect();
            batch::verify_block(items, &ctx()).unwrap()
        });
        assert_eq!(
            verified.iter().map(VerifiedTx::hash).collect::<Vec<_>>(),
            hashes
        );
    }

    // A broken Bulletproof+ in transaction 5: the batch fails, the fallback names it.
    let mut broken = txs.clone();
    let mut blob = broken[5].blob().to_vec();
    let Transaction::V2 {
        proofs: Some(proofs),
        ..
    } = broken[5].transaction()
    else {
        panic!()
    };
    let monero_oxide::ringct::RctPrunable::Clsag { bulletproof, .. } = &proofs.prunable else {
        panic!()
    };
    let bp = bulletproof.serialize();
    let start = blob
        .windows(bp.len())
        .position(|w| w == bp.as_slice())
        .unwrap();
    blob[start + 100] ^= 4;
    broken[5] = Tx::parse(&blob).unwrap();
    let err = batch::check_block(broken.clone(), &rules(HardFork::V16)).unwrap_err();
    assert_eq!(err.hash(), Some(broken[5].hash()));
    let results = batch::check_many(
        broken
            .into_iter()
            .map(|t| (t, rules(HardFork::V16)))
            .collect(),
    );
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    assert!(results[5].is_err());

    // A broken CLSAG in transaction 3: named with its input.
    let mut bad = build_transaction(&CHAIN, &Spec::type6(vec![33], 2));
    let (clsags, _) = clsag_parts(&mut bad);
    clsags[0].s[0] = Scalar::random(&mut OsRng);
    let mut txs = txs;
    txs[3] = reencode(bad);
    let checked = batch::check_block(txs.clone(), &rules(HardFork::V16)).unwrap();
    let items: Vec<(CheckedTx, RingData)> = checked
        .into_iter()
        .map(|c| {
            let data = CHAIN.ring_data(&c.ring_request());
            (c, data)
        })
        .collect();
    let results = batch::verify_many(items.iter().cloned().map(|(c, d)| (c, d, ctx())).collect());
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    let err = batch::verify_block(items, &ctx()).unwrap_err();
    assert_eq!(err.hash(), Some(txs[3].hash()));
    assert_eq!(
        err.reason,
        Reason::InvalidSignature {
            kind: ProofKind::Clsag,
            input: 0
        }
    );
}
