//! The derive macro behind `umbra_epee::EpeeObject`.
//!
//! Use it through `umbra-epee`, which re-exports it and documents the attributes; this
//! crate exists only because procedural macros must live in a crate of their own.
//!
//! The generated decoder reads the field count, then for each field matches its name
//! against the struct's wire names and decodes the value straight into a typed slot;
//! unknown fields are skipped through the reader (within its limits). The generated encoder
//! writes fields sorted by wire name, the order monerod's `std::map` gives.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Expr, Fields, Ident, LitByteStr, LitStr, Type, parse_macro_input};

/// Derives `EpeeObject` and `EpeeValue` for a struct with named fields.
///
/// See `umbra_epee::EpeeObject` for the attributes.
#[proc_macro_derive(EpeeObject, attributes(epee))]
pub fn derive_epee_object(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// One field of the struct, with what its attributes say.
struct FieldSpec {
    ident: Ident,
    ty: Type,
    wire_name: String,
    /// `Some` for `#[epee(default)]` / `#[epee(default = expr)]` and `#[epee(missing …)]`:
    /// the value of the field when it is absent.
    default: Option<Expr>,
    /// Whether a value equal to `default` is left out when writing (`default`, monerod's
    /// `KV_SERIALIZE_OPT`) or still written (`missing`).
    skip_default: bool,
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let (krate, validate) = struct_attrs(input)?;
    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => &named.named,
            _ => {
                return Err(syn::Error::new_spanned(
                    &input.ident,
                    "EpeeObject needs a struct with named fields",
                ));
            }
        },
        _ => {
            return Err(syn::Error::new_spanned(
                &input.ident,
                "EpeeObject needs a struct",
            ));
        }
    };

    let mut specs = Vec::with_capacity(fields.len());
    for field in fields {
        let Some(ident) = field.ident.clone() else {
            return Err(syn::Error::new_spanned(field, "field without a name"));
        };
        let mut wire_name = ident.to_string();
        let mut default = None;
        let mut skip_default = false;
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("epee")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    wire_name = meta.value()?.parse::<LitStr>()?.value();
                    Ok(())
                } else if meta.path.is_ident("default") || meta.path.is_ident("missing") {
                    skip_default = meta.path.is_ident("default");
                    default = Some(if meta.input.peek(syn::Token![=]) {
                        meta.value()?.parse::<Expr>()?
                    } else {
                        let ty = &field.ty;
                        syn::parse_quote!(<#ty as ::core::default::Default>::default())
                    });
                    Ok(())
                } else {
                    Err(meta
                        .error("unknown epee attribute; expected `rename`, `default` or `missing`"))
                }
            })?;
        }
        if wire_name.is_empty() || wire_name.len() > 254 {
            return Err(syn::Error::new_spanned(
                &ident,
                "epee field names must be 1 to 254 bytes long",
            ));
        }
        specs.push(FieldSpec {
            ident,
            ty: field.ty.clone(),
            wire_name,
            default,
            skip_default,
        });
    }

    let mut sorted: Vec<&FieldSpec> = specs.iter().collect();
    sorted.sort_by(|a, b| a.wire_name.as_bytes().cmp(b.wire_name.as_bytes()));
    for pair in sorted.windows(2) {
        if let [a, b] = pair
            && a.wire_name == b.wire_name
        {
            return Err(syn::Error::new_spanned(
                &b.ident,
                format!("two fields are named {:?} on the wire", b.wire_name),
            ));
        }
    }

    let name = &input.ident;
    // The impls are generic over the input lifetime `'de`, which outlives every lifetime of
    // the struct, and require every field type to be an `EpeeValue<'de>`.
    let (_, ty_generics, _) = input.generics.split_for_impl();
    let mut generics = input.generics.clone();
    let struct_lifetimes: Vec<syn::Lifetime> =
        generics.lifetimes().map(|l| l.lifetime.clone()).collect();
    generics
        .params
        .insert(0, syn::parse_quote!('__de: #(#struct_lifetimes)+*));
    {
        let where_clause = generics.make_where_clause();
        for spec in &specs {
            let ty = &spec.ty;
            where_clause
                .predicates
                .push(syn::parse_quote!(#ty: #krate::EpeeValue<'__de>));
        }
    }
    let (impl_generics, _, where_clause) = generics.split_for_impl();

    let slots: Vec<Ident> = (0..specs.len())
        .map(|i| format_ident!("__slot{}", i))
        .collect();
    let slot_decls = specs.iter().zip(&slots).map(|(spec, slot)| {
        let ty = &spec.ty;
        quote! { let mut #slot: ::core::option::Option<#ty> = ::core::option::Option::None; }
    });
    // Field names are compared as whole slices (`==` against a constant, which compiles to
    // a few wide loads), not matched as byte-string patterns (which compile to one
    // comparison per byte); the fields are tried in wire order, the order monerod sends.
    let name_tests = sorted.iter().map(|spec| {
        let index = specs
            .iter()
            .position(|s| std::ptr::eq(s, *spec))
            .unwrap_or(usize::MAX);
        let wire_bytes = LitByteStr::new(spec.wire_name.as_bytes(), Span::call_site());
        quote! { if __name == #wire_bytes { #index } else }
    });
    let match_arms = specs
        .iter()
        .zip(&slots)
        .enumerate()
        .map(|(index, (spec, slot))| {
            let ty = &spec.ty;
            let wire = &spec.wire_name;
            quote! {
                #index => {
                    if #slot.is_some() {
                        return ::core::result::Result::Err(
                            #krate::ErrorKind::DuplicateField(::std::string::String::from(#wire))
                                .into(),
                        );
                    }
                    #slot = ::core::option::Option::Some(
                        <#ty as #krate::EpeeValue<'__de>>::read(__reader, __marker)
                            .map_err(|e| e.in_field(#wire))?,
                    );
                }
            }
        });
    let constructors = specs.iter().zip(&slots).map(|(spec, slot)| {
        let ident = &spec.ident;
        let ty = &spec.ty;
        let wire = &spec.wire_name;
        match &spec.default {
            Some(default) => quote! {
                #ident: match #slot {
                    ::core::option::Option::Some(value) => value,
                    ::core::option::Option::None => #default,
                }
            },
            // A `match`, not `ok_or`: an eagerly built error would be dropped on the
            // success path too.
            None => quote! {
                #ident: match #slot {
                    ::core::option::Option::Some(value) => value,
                    ::core::option::Option::None => {
                        match <#ty as #krate::EpeeValue<'__de>>::missing() {
                            ::core::option::Option::Some(value) => value,
                            ::core::option::Option::None => {
                                return ::core::result::Result::Err(
                                    #krate::ErrorKind::MissingField(#wire).into(),
                                );
                            }
                        }
                    }
                }
            },
        }
    });

    let write_flags: Vec<Ident> = (0..sorted.len())
        .map(|i| format_ident!("__write{}", i))
        .collect();
    let flag_decls = sorted.iter().zip(&write_flags).map(|(spec, flag)| {
        let ident = &spec.ident;
        let ty = &spec.ty;
        match &spec.default {
            Some(default) if spec.skip_default => quote! {
                let #flag = self.#ident != (#default)
                    && <#ty as #krate::EpeeValue<'__de>>::should_write(&self.#ident);
            },
            _ => quote! {
                let #flag = <#ty as #krate::EpeeValue<'__de>>::should_write(&self.#ident);
            },
        }
    });
    let writes = sorted.iter().zip(&write_flags).map(|(spec, flag)| {
        let ident = &spec.ident;
        let wire_bytes = LitByteStr::new(spec.wire_name.as_bytes(), Span::call_site());
        quote! {
            if #flag {
                #krate::write_field(__writer, #wire_bytes, &self.#ident)?;
            }
        }
    });

    let finish = match &validate {
        Some(validate) => quote! {
            let mut __value = __value;
            #validate(&mut __value)?;
            ::core::result::Result::Ok(__value)
        },
        None => quote! { ::core::result::Result::Ok(__value) },
    };

    Ok(quote! {
        impl #impl_generics #krate::EpeeObject<'__de> for #name #ty_generics #where_clause {
            #[inline]
            fn read_fields(__reader: &mut #krate::Reader<'__de>) -> #krate::Result<Self> {
                #(#slot_decls)*
                let __count = __reader.read_field_count()?;
                for _ in 0..__count {
                    let __name = __reader.read_name()?;
                    let __marker = __reader.read_marker()?;
                    let __field: usize = #(#name_tests)* { usize::MAX };
                    match __field {
                        #(#match_arms)*
                        _ => __reader.skip_value(__marker)?,
                    }
                }
                let __value = Self { #(#constructors,)* };
                #finish
            }

            fn write_fields<__B: #krate::bytes::BufMut>(
                &self,
                __writer: &mut __B,
            ) -> #krate::Result<()> {
                #(#flag_decls)*
                let __count = 0usize #( + usize::from(#write_flags) )*;
                #krate::write_field_count(__writer, __count)?;
                #(#writes)*
                ::core::result::Result::Ok(())
            }
        }

        impl #impl_generics #krate::EpeeValue<'__de> for #name #ty_generics #where_clause {
            const MARKER: #krate::Marker = #krate::Marker::scalar(#krate::TypeCode::Object);

            #[inline]
            fn read(
                __reader: &mut #krate::Reader<'__de>,
                __marker: #krate::Marker,
            ) -> #krate::Result<Self> {
                #krate::read_object_value(__reader, __marker)
            }

            #[inline]
            fn write<__B: #krate::bytes::BufMut>(&self, __writer: &mut __B) -> #krate::Result<()> {
                <Self as #krate::EpeeObject<'__de>>::write_fields(self, __writer)
            }
        }
    })
}

/// The path to `umbra_epee`: `::umbra_epee` unless `#[epee(crate = "path")]` says otherwise.
/// Struct-level attributes: `#[epee(crate = "path")]` (where `umbra_epee` is, default
/// `::umbra_epee`) and `#[epee(validate = path)]` (a `fn(Self) -> umbra_epee::Result<Self>`
/// run on every decoded value, for rules between fields).
fn struct_attrs(input: &DeriveInput) -> syn::Result<(syn::Path, Option<syn::Path>)> {
    let mut path: syn::Path = syn::parse_quote!(::umbra_epee);
    let mut validate = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("epee")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                path = meta.value()?.parse::<LitStr>()?.parse()?;
                Ok(())
            } else if meta.path.is_ident("validate") {
                validate = Some(meta.value()?.parse::<syn::Path>()?);
                Ok(())
            } else {
                Err(meta
                    .error("unknown epee attribute on a struct; expected `crate` or `validate`"))
            }
        })?;
    }
    Ok((path, validate))
}
