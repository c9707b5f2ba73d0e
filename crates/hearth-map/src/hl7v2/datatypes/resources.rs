//! The IG's datatype maps that become resources of their own: XCN → Practitioner, XON/HD → Organization,
//! PL → Location, each added to the Bundle once.

use super::person::{NameLayout, name_parts};
#[allow(clippy::wildcard_imports)]
use super::*;

/// XCN → Practitioner (IG `XCN[Practitioner]`), added to the Bundle once per person: the id is derived from
/// the identifier (XCN-1 with its assigning authority XCN-9) or, without one, from the name. Returns its
/// reference.
pub fn practitioner(ctx: &mut Ctx<'_>, rep: &Repetition<'_>, at: At<'_>) -> Option<Ref> {
    let id_value = comp(rep, 1);
    let name = name_parts(ctx, rep, at, NameLayout::XCN);
    if id_value.is_none() && name.is_none() {
        return None;
    }
    let system = hd_in_component(ctx, rep, 9);
    let mut o = Obj::new();
    let mut ident = None;
    if let Some(v) = &id_value {
        let mut i = Obj::new();
        put(&mut i, "system", system.clone().map(Value::from));
        i.insert("value".into(), Value::from(v.as_ref()));
        if let Some(t) = comp(rep, 13) {
            i.insert("type".into(), identifier_type(ctx, &t, at));
        }
        o.insert("identifier".into(), json!([Value::Object(i)]));
        ident = Some((system.clone().unwrap_or_default(), v.to_string()));
    }
    put(&mut o, "name", name.map(|n| json!([n])));
    let id = match &ident {
        Some((s, v)) => deterministic_id("Practitioner", &[s, v]),
        None => {
            let key = o.get("name").map(|n| n.to_string()).unwrap_or_default();
            deterministic_id("Practitioner", &["name", &key])
        }
    };
    let cond = ident.as_ref().filter(|(s, _)| !s.is_empty()).map(|(s, v)| (s.as_str(), v.as_str()));
    Some(ctx.add("Practitioner", id, o, cond))
}

/// XON → Organization (IG `XON[Organization]`): name XON-1, identifier XON-10 (or XON-3) with system from XON-6,
/// type XON-7. Deduplicated by identifier, else by name.
pub fn organization(ctx: &mut Ctx<'_>, rep: &Repetition<'_>, at: At<'_>) -> Option<Ref> {
    let name = comp(rep, 1);
    let idv = comp(rep, 10).or_else(|| comp(rep, 3));
    if name.is_none() && idv.is_none() {
        return None;
    }
    let system = hd_in_component(ctx, rep, 6);
    let mut o = Obj::new();
    put(&mut o, "name", name.as_ref().map(|n| Value::from(n.as_ref())));
    if let Some(v) = &idv {
        let mut i = Obj::new();
        put(&mut i, "system", system.clone().map(Value::from));
        i.insert("value".into(), Value::from(v.as_ref()));
        if let Some(t) = comp(rep, 7) {
            i.insert("type".into(), identifier_type(ctx, &t, at));
        }
        o.insert("identifier".into(), json!([Value::Object(i)]));
    }
    Some(add_organization(ctx, o, system.as_deref(), idv.as_deref(), name.as_deref()))
}

/// Adds an Organization with a deterministic id (identifier, else name).
pub fn add_organization(ctx: &mut Ctx<'_>, o: Obj, system: Option<&str>, idv: Option<&str>, name: Option<&str>) -> Ref {
    let id = match idv {
        Some(v) => deterministic_id("Organization", &[system.unwrap_or_default(), v]),
        None => deterministic_id("Organization", &["name", name.unwrap_or_default()]),
    };
    let cond = system.zip(idv);
    ctx.add("Organization", id, o, cond)
}

/// An HD naming an organization (e.g. MSH-4, PL-4) → Organization.
pub fn organization_hd(ctx: &mut Ctx<'_>, ns: Option<&str>, uid: Option<&str>, uid_type: Option<&str>) -> Option<Ref> {
    if ns.is_none() && uid.is_none() {
        return None;
    }
    let mut o = Obj::new();
    put(&mut o, "name", ns.map(Value::from));
    let system = uid.and_then(|u| hd_system(ctx, None, Some(u), uid_type));
    if let Some(s) = &system {
        // The universal id names the organization itself: `urn:ietf:rfc:3986` with the URI as value.
        o.insert("identifier".into(), json!([{ "system": "urn:ietf:rfc:3986", "value": s }]));
        return Some(add_organization(ctx, o, Some("urn:ietf:rfc:3986"), Some(s), ns));
    }
    Some(add_organization(ctx, o, None, None, ns))
}

/// PL → Location (IG `PL[Location]`): one Location for the most specific place sent, named from the point of
/// care, room and bed, with physicalType bed/room/ward, `partOf` not modelled; the facility (PL-4) becomes
/// `managingOrganization`. Deduplicated by the whole PL.
pub fn location(ctx: &mut Ctx<'_>, rep: &Repetition<'_>) -> Option<Ref> {
    let parts: Vec<Cow<'_, str>> = [1, 2, 3].iter().filter_map(|&n| comp(rep, n)).collect();
    let building = comp(rep, 7);
    let floor = comp(rep, 8);
    let description = comp(rep, 9);
    let facility = sub(rep, 4, 1);
    if parts.is_empty() && building.is_none() && floor.is_none() && description.is_none() && facility.is_none() {
        return None;
    }
    let mut o = Obj::new();
    let mut name: Vec<&str> = parts.iter().map(|p| p.as_ref()).collect();
    if name.is_empty() {
        name.extend(building.as_deref().into_iter().chain(floor.as_deref()));
    }
    if name.is_empty()
        && let Some(d) = description.as_deref()
    {
        name.push(d);
    }
    let name = if name.is_empty() { facility.as_deref().map(str::to_owned) } else { Some(name.join(" ")) };
    put(&mut o, "name", name.map(Value::from));
    put(&mut o, "description", description.as_ref().map(|d| Value::from(d.as_ref())));
    let physical = if comp(rep, 3).is_some() {
        Some(("bd", "Bed"))
    } else if comp(rep, 2).is_some() {
        Some(("ro", "Room"))
    } else if comp(rep, 1).is_some() {
        Some(("wa", "Ward"))
    } else if floor.is_some() {
        Some(("lvl", "Level"))
    } else if building.is_some() {
        Some(("bu", "Building"))
    } else {
        None
    };
    if let Some((code, display)) = physical {
        o.insert(
            "physicalType".into(),
            json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/location-physical-type", "code": code, "display": display }] }),
        );
    }
    o.insert("mode".into(), Value::from("instance"));
    let fac_uid = sub(rep, 4, 2);
    let fac_ty = sub(rep, 4, 3);
    if let Some(org) = organization_hd(ctx, facility.as_deref(), fac_uid.as_deref(), fac_ty.as_deref()) {
        o.insert("managingOrganization".into(), org.reference());
    }
    let id = deterministic_id("Location", &[rep.raw()]);
    Some(ctx.add("Location", id, o, None))
}
