//! Which accounts a request tries, in order (DESIGN.md §5): the group's bound accounts that
//! speak the protocol and serve the model; ACTIVE (and RATE_LIMITED past its reset) by priority
//! tier, weighted random inside a tier; the conversation's sticky account first; TEMP_ERROR
//! accounts last, oldest error first.

use foldhash::{HashMap, HashMapExt};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::endpoint::Endpoint;
use super::protocol::Protocol;
use super::provider;
use super::snapshot::{Route, Upstream};
use super::translate::{Format, OpenaiApis};
use crate::domain::{AccountStatus, Platform};

/// Whether the selector may send a request to this account now, and how eagerly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rank {
    Routable,
    LastResort,
    Never,
}

fn rank(a: &Upstream, now_ms: i64) -> Rank {
    match a.status {
        AccountStatus::Active => Rank::Routable,
        AccountStatus::RateLimited if a.status_until.is_some_and(|t| t <= now_ms) => Rank::Routable,
        AccountStatus::TempError => Rank::LastResort,
        _ => Rank::Never,
    }
}

/// Why there is no candidate at all, for the client's error message.
#[derive(Debug, PartialEq, Eq)]
pub enum NoCandidate {
    /// No account of the group speaks this protocol and serves this model.
    NoneServes,
    /// Every such account is rate limited; the earliest reset (epoch ms) if known.
    AllRateLimited(Option<i64>),
    /// Every such account is out of rotation (error, disabled, maintenance).
    NoneRoutable,
    /// Every account that could take it is at its concurrency cap.
    AllBusy,
}

/// One request, as the selector sees it.
pub struct Ask<'a> {
    /// Account platforms the request may go to.
    pub platforms: &'a [Platform],
    /// The client's protocol.
    pub protocol: Protocol,
    /// What the client asked for: whether an OpenAI account takes it as it is (a Responses
    /// request, for an account that serves Responses) or by translation.
    pub endpoint: &'a Endpoint,
    pub model: &'a str,
    /// The account the conversation used last.
    pub sticky: Option<i64>,
    pub now_ms: i64,
    /// Share of a subscription window (0–1) from which an account takes no new conversations
    /// while another has headroom.
    pub reserve: f64,
}

/// What serving knows of an account beyond its status.
#[derive(Clone, Copy, Debug, Default)]
pub struct Live {
    /// A subscription's tighter usage window (0–1), when it reported one.
    pub utilization: Option<f64>,
    /// Set aside briefly after a 529.
    pub cooling: bool,
    /// At its concurrency cap.
    pub full: bool,
}

/// Orders the candidates for one request. An account of another protocol than the client's
/// serves only the models it names (in its model list, its mapping or its upstream's list):
/// one with no list takes anything of its own protocol, not everything. Within a priority
/// tier, accounts of the client's protocol come first; subscriptions go by headroom (the
/// tighter window's unused share times weight), the rest weighted at random. Subscriptions at
/// their reserve and accounts cooling after a 529 come after every other routable account.
pub fn candidates(
    routes: &[Route],
    ask: &Ask,
    live: &dyn Fn(i64) -> Live,
) -> Result<Vec<Arc<Upstream>>, NoCandidate> {
    let responses = Format::of(ask.endpoint) == Format::Responses;
    let own = |a: &Upstream| {
        provider::of(a.platform).protocol() == ask.protocol
            && match a.openai_apis(ask.endpoint) {
                OpenaiApis::ChatOnly => !responses,
                OpenaiApis::ResponsesOnly => responses,
                OpenaiApis::Both => true,
            }
    };
    let serving: Vec<&Route> = routes
        .iter()
        .filter(|r| ask.platforms.contains(&r.account.platform))
        .filter(|r| {
            if own(&r.account) {
                r.account.serves(ask.model)
            } else {
                r.account.names(ask.model)
            }
        })
        .collect();
    if serving.is_empty() {
        return Err(NoCandidate::NoneServes);
    }
    // An account at its cap is passed over (the caller waits briefly when all are).
    let (full, serving): (Vec<&Route>, Vec<&Route>) =
        serving.into_iter().partition(|r| live(r.account.id).full);
    if serving.is_empty() {
        let _ = full;
        return Err(NoCandidate::AllBusy);
    }
    let now_ms = ask.now_ms;
    let held = |id: i64| {
        let l = live(id);
        l.cooling || l.utilization.is_some_and(|u| u >= ask.reserve)
    };
    let mut ordered: Vec<Arc<Upstream>> = Vec::with_capacity(serving.len());
    let mut first = None;
    if let Some(id) = ask.sticky
        && let Some(r) = serving.iter().find(|r| r.account.id == id)
        && rank(&r.account, now_ms) == Rank::Routable
        && !held(id)
    {
        ordered.push(r.account.clone());
        first = Some(id);
    }
    // `routes` is sorted by priority: walk it tier by tier.
    let routable: Vec<&Route> = serving
        .iter()
        .copied()
        .filter(|r| rank(&r.account, now_ms) == Rank::Routable && Some(r.account.id) != first)
        .collect();
    let (held_back, routable): (Vec<&Route>, Vec<&Route>) =
        routable.into_iter().partition(|r| held(r.account.id));
    let mut start = 0;
    while start < routable.len() {
        let tier = routable[start].priority;
        let end = routable[start..]
            .iter()
            .position(|r| r.priority != tier)
            .map_or(routable.len(), |n| start + n);
        // At equal priority, accounts that need no translation come first.
        let (same, other): (Vec<&Route>, Vec<&Route>) =
            routable[start..end].iter().partition(|r| own(&r.account));
        for group in [same, other] {
            // A subscription that has not reported yet counts as unused, so it is tried.
            let (mut windowed, plain): (Vec<&Route>, Vec<&Route>) =
                group.into_iter().partition(|r| {
                    r.account.platform.is_subscription() || live(r.account.id).utilization.is_some()
                });
            let score = |r: &&Route| {
                let used = live(r.account.id).utilization.unwrap_or(0.0);
                (1.0 - used) * r.weight as f64
            };
            windowed.sort_by(|a, b| {
                score(b)
                    .total_cmp(&score(a))
                    .then(a.account.id.cmp(&b.account.id))
            });
            ordered.extend(windowed.into_iter().map(|r| r.account.clone()));
            weighted_order(&plain, &mut ordered);
        }
        start = end;
    }
    ordered.extend(held_back.into_iter().map(|r| r.account.clone()));
    let mut last: Vec<&Route> = serving
        .iter()
        .copied()
        .filter(|r| rank(&r.account, now_ms) == Rank::LastResort)
        .collect();
    last.sort_by_key(|r| (r.account.last_error_at.unwrap_or(0), r.account.id));
    ordered.extend(last.into_iter().map(|r| r.account.clone()));
    if !ordered.is_empty() {
        return Ok(ordered);
    }
    let limited: Vec<Option<i64>> = serving
        .iter()
        .filter(|r| r.account.status == AccountStatus::RateLimited)
        .map(|r| r.account.status_until)
        .collect();
    if limited.len() == serving.len() {
        Err(NoCandidate::AllRateLimited(
            limited.into_iter().flatten().min(),
        ))
    } else {
        Err(NoCandidate::NoneRoutable)
    }
}

/// Appends `tier` in weighted random order: each draw picks an account with probability
/// proportional to its weight among those not yet drawn.
fn weighted_order(tier: &[&Route], out: &mut Vec<Arc<Upstream>>) {
    let mut left: Vec<&Route> = tier.to_vec();
    while !left.is_empty() {
        let total: i64 = left.iter().map(|r| r.weight).sum();
        let mut pick = fastrand::i64(0..total);
        let idx = left
            .iter()
            .position(|r| {
                pick -= r.weight;
                pick < 0
            })
            .unwrap_or(0);
        out.push(left.swap_remove(idx).account.clone());
    }
}

/// Conversation → account, so follow-up turns hit the same account's prompt cache.
pub struct Sticky {
    ttl: Duration,
    map: Mutex<HashMap<u64, (i64, Instant)>>,
}

/// Entries kept before expired ones are swept.
const STICKY_SWEEP_AT: usize = 50_000;

impl Sticky {
    pub fn new(ttl: Duration) -> Sticky {
        Sticky {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// The map key for a member key's conversation; the session text itself is not kept.
    pub fn session(key_id: i64, session: &str) -> u64 {
        let mut h = DefaultHasher::new();
        (key_id, session).hash(&mut h);
        h.finish()
    }

    pub fn get(&self, session: u64) -> Option<i64> {
        let map = self.map.lock().expect("sticky map");
        map.get(&session)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(id, _)| *id)
    }

    pub fn set(&self, session: u64, account: i64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.map.lock().expect("sticky map");
        if map.len() >= STICKY_SWEEP_AT {
            let ttl = self.ttl;
            map.retain(|_, (_, at)| at.elapsed() < ttl);
            // Still full of live conversations (a flood of new ones): the older half goes, so
            // the map never outgrows its cap.
            if map.len() >= STICKY_SWEEP_AT {
                let mut ages: Vec<Instant> = map.values().map(|(_, at)| *at).collect();
                let mid = ages.len() / 2;
                let (_, cut, _) = ages.select_nth_unstable(mid);
                let cut = *cut;
                map.retain(|_, (_, at)| *at > cut);
            }
        }
        map.insert(session, (account, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::snapshot::Secret;

    fn route(id: i64, priority: i64, weight: i64, status: AccountStatus) -> Route {
        Route {
            account: Arc::new(Upstream {
                id,
                platform: Platform::Anthropic,
                base_url: "http://x".into(),
                secret: Secret(String::new()),
                user_agent: None,
                models: if id == 99 {
                    vec!["only-this".into()]
                } else {
                    vec![]
                },
                offered: None,
                errors_reset_at: None,
                allow_overage: false,
                max_concurrency: None,
                workspace: None,
                openai: OpenaiApis::ChatOnly,
                mapping: Default::default(),
                proxy: None,
                status,
                status_until: Some(1_000),
                last_error_at: Some(id),
            }),
            priority,
            weight,
        }
    }

    const P: &[Platform] = &[Platform::Anthropic];
    const A: Protocol = Protocol::Anthropic;

    /// Candidates with nothing known of the accounts beyond their status.
    fn cands(
        routes: &[Route],
        platforms: &[Platform],
        protocol: Protocol,
        model: &str,
        sticky: Option<i64>,
        now_ms: i64,
    ) -> Result<Vec<Arc<Upstream>>, NoCandidate> {
        let ask = Ask {
            platforms,
            protocol,
            endpoint: &Endpoint::Messages,
            model,
            sticky,
            now_ms,
            reserve: 0.95,
        };
        candidates(routes, &ask, &|_| Live::default())
    }

    fn ids(v: &[Arc<Upstream>]) -> Vec<i64> {
        v.iter().map(|a| a.id).collect()
    }

    #[test]
    fn lower_priority_numbers_come_first_and_temp_errors_last() {
        use AccountStatus::*;
        let routes = vec![
            route(1, 10, 1, Active),
            route(2, 20, 1, Active),
            route(6, 5, 1, TempError),
            route(5, 5, 1, TempError),
            route(3, 30, 1, Disabled),
            route(4, 30, 1, Error),
        ];
        let got = cands(&routes, P, A, "m", None, 0).unwrap();
        assert_eq!(ids(&got), vec![1, 2, 5, 6]);
    }

    #[test]
    fn sticky_account_goes_first_only_when_routable() {
        use AccountStatus::*;
        let routes = vec![
            route(1, 10, 1, Active),
            route(2, 20, 1, Active),
            route(3, 5, 1, Maintenance),
        ];
        assert_eq!(
            ids(&cands(&routes, P, A, "m", Some(2), 0).unwrap()),
            vec![2, 1]
        );
        assert_eq!(
            ids(&cands(&routes, P, A, "m", Some(3), 0).unwrap()),
            vec![1, 2]
        );
    }

    #[test]
    fn rate_limited_accounts_return_after_their_reset() {
        use AccountStatus::*;
        let routes = vec![route(1, 10, 1, RateLimited), route(2, 10, 1, RateLimited)];
        assert_eq!(
            cands(&routes, P, A, "m", None, 999).err(),
            Some(NoCandidate::AllRateLimited(Some(1_000)))
        );
        assert_eq!(cands(&routes, P, A, "m", None, 1_000).unwrap().len(), 2);
    }

    #[test]
    fn model_lists_and_platforms_filter_candidates() {
        use AccountStatus::*;
        let routes = vec![route(99, 10, 1, Active)];
        assert_eq!(
            cands(&routes, P, A, "other", None, 0).err(),
            Some(NoCandidate::NoneServes)
        );
        assert_eq!(cands(&routes, P, A, "only-this", None, 0).unwrap().len(), 1);
        assert_eq!(
            cands(&routes, &[Platform::Openai], A, "only-this", None, 0).err(),
            Some(NoCandidate::NoneServes)
        );
        let down = vec![route(1, 10, 1, Error)];
        assert_eq!(
            cands(&down, P, A, "m", None, 0).err(),
            Some(NoCandidate::NoneRoutable)
        );
    }

    #[test]
    fn accounts_of_another_protocol_serve_what_they_name_after_the_own_protocol() {
        use AccountStatus::*;
        let mut deepseek = route(7, 10, 100, Active);
        let mut a = (*deepseek.account).clone();
        a.platform = Platform::Openai;
        a.mapping = [("claude-sonnet-4-5".to_owned(), "deepseek-chat".to_owned())].into();
        deepseek.account = Arc::new(a);
        let mut unnamed = route(8, 10, 100, Active);
        let mut a = (*unnamed.account).clone();
        a.platform = Platform::Gemini;
        unnamed.account = Arc::new(a);
        let routes = vec![deepseek, unnamed, route(1, 10, 1, Active)];
        let all = &[Platform::Anthropic, Platform::Openai, Platform::Gemini];
        for _ in 0..50 {
            // Weight 100 against 1, yet the Anthropic account comes first at equal priority;
            // the Gemini account with no list serves no Claude model.
            let got = cands(&routes, all, A, "claude-sonnet-4-5", None, 0).unwrap();
            assert_eq!(ids(&got), [1, 7]);
        }
        let chat = cands(&routes, all, Protocol::Openai, "claude-sonnet-4-5", None, 0);
        assert_eq!(ids(&chat.unwrap()), [7]);
        let gemini = cands(&routes, all, Protocol::Gemini, "gemini-2.5-pro", None, 0);
        assert_eq!(ids(&gemini.unwrap()), [8]);
    }

    #[test]
    fn subscriptions_go_by_headroom_and_wait_at_their_reserve() {
        use AccountStatus::*;
        let routes = vec![
            route(1, 10, 1, Active),
            route(2, 10, 1, Active),
            route(3, 10, 1, Active),
        ];
        let used = |id: i64| Live {
            utilization: Some(match id {
                1 => 0.97,
                2 => 0.30,
                _ => 0.60,
            }),
            cooling: false,
            full: false,
        };
        let ask = |sticky| Ask {
            platforms: P,
            protocol: A,
            endpoint: &Endpoint::Messages,
            model: "m",
            sticky,
            now_ms: 0,
            reserve: 0.95,
        };
        for _ in 0..20 {
            assert_eq!(
                ids(&candidates(&routes, &ask(None), &used).unwrap()),
                [2, 3, 1]
            );
        }
        // A conversation on the account at its reserve moves; one elsewhere stays.
        assert_eq!(
            ids(&candidates(&routes, &ask(Some(1)), &used).unwrap()),
            [2, 3, 1]
        );
        assert_eq!(
            ids(&candidates(&routes, &ask(Some(3)), &used).unwrap()),
            [3, 2, 1]
        );
        // Weight multiplies headroom: 40 % free at weight 3 beats 70 % free at weight 1.
        let mut heavy = routes.clone();
        heavy[2].weight = 3;
        assert_eq!(
            ids(&candidates(&heavy, &ask(None), &used).unwrap()),
            [3, 2, 1]
        );
        // An account cooling after a 529 comes after the others, not out.
        let cooling = |id: i64| Live {
            utilization: None,
            cooling: id == 2,
            full: false,
        };
        let got = candidates(&routes, &ask(None), &cooling).unwrap();
        assert_eq!(*ids(&got).last().unwrap(), 2);
        assert_eq!(got.len(), 3);
        // An account at its cap is passed over; all at their caps is its own answer.
        let full = |id: i64| Live {
            full: id != 3,
            ..Live::default()
        };
        assert_eq!(ids(&candidates(&routes, &ask(None), &full).unwrap()), [3]);
        let all_full = |_| Live {
            full: true,
            ..Live::default()
        };
        assert_eq!(
            candidates(&routes, &ask(None), &all_full).err(),
            Some(NoCandidate::AllBusy)
        );
    }

    #[test]
    fn weights_decide_the_first_pick_in_proportion() {
        use AccountStatus::*;
        let routes = vec![route(1, 10, 1, Active), route(2, 10, 3, Active)];
        let n = 20_000;
        let firsts = (0..n)
            .filter(|_| cands(&routes, P, A, "m", None, 0).unwrap()[0].id == 2)
            .count();
        // Expected 3/4; the bound is over 10 standard deviations wide.
        let share = firsts as f64 / n as f64;
        assert!((0.72..0.78).contains(&share), "share {share}");
    }

    #[test]
    fn the_sticky_map_never_outgrows_its_cap() {
        let s = Sticky::new(Duration::from_secs(3600));
        for i in 0..3 * STICKY_SWEEP_AT as u64 {
            s.set(i, 1);
        }
        let len = s.map.lock().unwrap().len();
        assert!(len <= STICKY_SWEEP_AT, "{len}");
        assert_eq!(
            s.get(3 * STICKY_SWEEP_AT as u64 - 1),
            Some(1),
            "the newest stays"
        );
    }

    #[test]
    fn sticky_entries_expire() {
        let s = Sticky::new(Duration::from_millis(30));
        let k = Sticky::session(1, "conv");
        s.set(k, 7);
        assert_eq!(s.get(k), Some(7));
        assert_ne!(k, Sticky::session(2, "conv"));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(s.get(k), None);
    }
}
