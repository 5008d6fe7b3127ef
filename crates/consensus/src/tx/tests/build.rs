//! Builds real RingCT transactions (CLSAG + Bulletproofs(+)) over a synthetic chain of
//! outputs, with monero-oxide's signing: positive and negative tests that need no monerod.

use curve25519_dalek_v4::{constants::ED25519_BASEPOINT_TABLE, scalar::Scalar as DScalar};
use monero_oxide::{
    ed25519::{Commitment, CompressedPoint, Point, Scalar},
    ringct::{
        EncryptedAmount, RctBase, RctProofs, RctPrunable,
        bulletproofs::Bulletproof,
        clsag::{Clsag, ClsagContext, Decoys},
    },
    transaction::{Input, Output, Timelock, Transaction, TransactionPrefix},
};
use rand_core_v06::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::tx::{InputRingData, RingData, RingMember, RingRequest, Tx};

/// The chain height test transactions are verified at.
pub(crate) const CHAIN_HEIGHT: u64 = 10_000;

fn random_scalar() -> DScalar {
    Scalar::random(&mut OsRng).into()
}

fn public(secret: &DScalar) -> [u8; 32] {
    (ED25519_BASEPOINT_TABLE * secret).compress().to_bytes()
}

/// An output the tests can spend.
#[derive(Clone)]
pub(crate) struct Owned {
    pub index: u64,
    pub secret: DScalar,
    pub mask: DScalar,
    pub amount: u64,
}

impl Owned {
    pub(crate) fn key_image(&self) -> [u8; 32] {
        let key = public(&self.secret);
        (Point::biased_hash(key).into() * self.secret)
            .compress()
            .to_bytes()
    }
}

/// A synthetic RingCT output set: every output by global index, some of them ours.
pub(crate) struct TestChain {
    pub members: Vec<RingMember>,
    pub owned: Vec<Owned>,
}

impl TestChain {
    /// `size` outputs, `owned` of them spendable by the tests, all created well below
    /// [`CHAIN_HEIGHT`].
    pub(crate) fn new(size: u64, owned: usize) -> Self {
        let mut members = Vec::new();
        let mut mine = Vec::new();
        let stride = (size / (owned as u64).max(1)).max(1);
        for index in 0..size {
            let secret = random_scalar();
            let mask = random_scalar();
            let amount = 1_000_000_000 + index * 7;
            let commitment = Commitment::new(Scalar::from(mask), amount)
                .commit()
                .compress()
                .to_bytes();
            members.push(RingMember {
                key: public(&secret),
                commitment: Some(commitment),
                unlock_time: 0,
                height: 100 + index % 5_000,
                is_coinbase: false,
            });
            if index % stride == stride / 2 && mine.len() < owned {
                mine.push(Owned {
                    index,
                    secret,
                    mask,
                    amount,
                });
            }
        }
        Self {
            members,
            owned: mine,
        }
    }

    /// The chain's answer to a ring request.
    pub(crate) fn ring_data(&self, request: &RingRequest) -> RingData {
        RingData {
            inputs: request
                .inputs
                .iter()
                .map(|input| InputRingData {
                    members: input
                        .indices
                        .iter()
                        .map(|&i| {
                            usize::try_from(i)
                                .ok()
                                .and_then(|i| self.members.get(i))
                                .copied()
                        })
                        .collect(),
                    key_image_spent: false,
                    amount_outputs: None,
                })
                .collect(),
        }
    }
}

/// What to build.
#[derive(Clone)]
pub(crate) struct Spec {
    /// Positions in [`TestChain::owned`] to spend.
    pub spend: Vec<usize>,
    /// Number of outputs.
    pub outputs: usize,
    /// Ring size.
    pub ring_size: usize,
    /// Bulletproofs+ (type 6) or Bulletproofs (type 5).
    pub plus: bool,
    /// With view tags.
    pub view_tags: bool,
    /// The fee.
    pub fee: u64,
}

impl Spec {
    /// A type-6 transaction of `inputs` inputs and `outputs` outputs, ring size 16.
    pub(crate) fn type6(spend: Vec<usize>, outputs: usize) -> Self {
        Self {
            spend,
            outputs,
            ring_size: 16,
            plus: true,
            view_tags: true,
            fee: 30_000_000,
        }
    }
}

/// Builds and signs a transaction spending `spec.spend` with rings drawn from the chain.
pub(crate) fn build(chain: &TestChain, spec: &Spec) -> Tx {
    Tx::from_transaction(&build_transaction(chain, spec)).unwrap()
}

/// [`build`] without the encoding step, for tests that alter it.
pub(crate) fn build_transaction(chain: &TestChain, spec: &Spec) -> Transaction {
    let n = chain.members.len() as u64;
    // Inputs sorted by key image, descending.
    let mut spends: Vec<Owned> = spec.spend.iter().map(|&i| chain.owned[i].clone()).collect();
    spends.sort_by_key(|o| std::cmp::Reverse(o.key_image()));

    let mut inputs = Vec::new();
    let mut contexts = Vec::new();
    for owned in &spends {
        let mut ring: Vec<u64> = vec![owned.index];
        while ring.len() < spec.ring_size {
            let candidate = OsRng.next_u64() % n;
            if !ring.contains(&candidate) {
                ring.push(candidate);
            }
        }
        ring.sort_unstable();
        let signer = ring.iter().position(|&i| i == owned.index).unwrap();
        let mut offsets = Vec::new();
        let mut previous = 0;
        for &index in &ring {
            offsets.push(index - previous);
            previous = index;
        }
        let members: Vec<[Point; 2]> = ring
            .iter()
            .map(|&i| {
                let m = chain.members[i as usize];
                [
                    CompressedPoint::from(m.key).decompress().unwrap(),
                    CompressedPoint::from(m.commitment.unwrap())
                        .decompress()
                        .unwrap(),
                ]
            })
            .collect();
        let decoys = Decoys::new(offsets.clone(), u8::try_from(signer).unwrap(), members).unwrap();
        let context = ClsagContext::new(
            decoys,
            Commitment::new(Scalar::from(owned.mask), owned.amount),
        )
        .unwrap();
        contexts.push((Zeroizing::new(Scalar::from(owned.secret)), context));
        inputs.push(Input::ToKey {
            amount: None,
            key_offsets: offsets,
            key_image: CompressedPoint::from(owned.key_image()),
        });
    }

    let total: u64 = spends.iter().map(|o| o.amount).sum::<u64>() - spec.fee;
    let outputs_n = spec.outputs as u64;
    let mut openings = Vec::new();
    let mut outputs = Vec::new();
    let mut mask_sum = DScalar::ZERO;
    for i in 0..outputs_n {
        let amount = if i + 1 == outputs_n {
            total - (total / outputs_n) * (outputs_n - 1)
        } else {
            total / outputs_n
        };
        let mask = random_scalar();
        mask_sum += mask;
        openings.push(Commitment::new(Scalar::from(mask), amount));
        outputs.push(Output {
            amount: None,
            key: CompressedPoint::from(public(&random_scalar())),
            view_tag: spec.view_tags.then(|| (OsRng.next_u32() & 0xff) as u8),
        });
    }
    let commitments: Vec<CompressedPoint> =
        openings.iter().map(|c| c.commit().compress()).collect();
    let bulletproof = if spec.plus {
        Bulletproof::prove_plus(&mut OsRng, openings.clone())
    } else {
        Bulletproof::prove(&mut OsRng, openings.clone())
    }
    .unwrap();

    let mut extra = vec![1u8];
    extra.extend_from_slice(&public(&random_scalar()));
    let mut tx = Transaction::V2 {
        prefix: TransactionPrefix {
            additional_timelock: Timelock::None,
            inputs,
            outputs,
            extra,
        },
        proofs: Some(RctProofs {
            base: RctBase {
                fee: spec.fee,
                pseudo_outs: vec![],
                encrypted_amounts: (0..spec.outputs)
                    .map(|_| EncryptedAmount::Compact {
                        amount: OsRng.next_u64().to_le_bytes(),
                    })
                    .collect(),
                commitments,
            },
            prunable: RctPrunable::Clsag {
                clsags: vec![],
                pseudo_outs: vec![],
                bulletproof,
            },
        }),
    };
    // The signed message covers the prefix, the base and the range proof, not the CLSAGs.
    let message = tx.signature_hash().unwrap();
    let signed = Clsag::sign(&mut OsRng, contexts, Scalar::from(mask_sum), message).unwrap();
    let (clsags, pseudo_outs) = clsag_parts(&mut tx);
    for (clsag, pseudo_out) in signed {
        clsags.push(clsag);
        pseudo_outs.push(pseudo_out.compress());
    }
    tx
}

/// The CLSAGs and pseudo-outputs of a CLSAG transaction, for tests that alter them.
pub(crate) fn clsag_parts(tx: &mut Transaction) -> (&mut Vec<Clsag>, &mut Vec<CompressedPoint>) {
    let Transaction::V2 {
        proofs: Some(proofs),
        ..
    } = tx
    else {
        panic!("not RingCT")
    };
    let RctPrunable::Clsag {
        clsags,
        pseudo_outs,
        ..
    } = &mut proofs.prunable
    else {
        panic!("not CLSAG")
    };
    (clsags, pseudo_outs)
}
