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
    let krate = crate_path(input)?;
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
                        syn::parse_quote!(::core::default::Default::default())
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
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();

    let slots: Vec<Ident> = (0..specs.len())
        .map(|i| format_ident!("__slot{}", i))
        .collect();
    let slot_decls = specs.iter().zip(&slots).map(|(spec, slot)| {
        let ty = &spec.ty;
        quote! { let mut #slot: ::core::option::Option<#ty> = ::core::option::Option::None; }
    });
    let match_arms = specs.iter().zip(&slots).map(|(spec, slot)| {
        let ty = &spec.ty;
        let wire = &spec.wire_name;
        let wire_bytes = LitByteStr::new(wire.as_bytes(), Span::call_site());
        quote! {
            #wire_bytes => {
                if #slot.is_some() {
                    return ::core::result::Result::Err(
                        #krate::Error::DuplicateField(::std::string::String::from(#wire)),
                    );
                }
                #slot = ::core::option::Option::Some(
                    <#ty as #krate::EpeeValue>::read(__reader, __marker)
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
            None => quote! {
                #ident: match #slot {
                    ::core::option::Option::Some(value) => value,
                    ::core::option::Option::None => <#ty as #krate::EpeeValue>::missing()
                        .ok_or(#krate::Error::MissingField(#wire))?,
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
                    && <#ty as #krate::EpeeValue>::should_write(&self.#ident);
            },
            _ => quote! {
                let #flag = <#ty as #krate::EpeeValue>::should_write(&self.#ident);
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

    Ok(quote! {
        impl #impl_generics #krate::EpeeObject for #name #ty_generics #where_clause {
            fn read_fields(__reader: &mut #krate::Reader<'_>) -> #krate::Result<Self> {
                #(#slot_decls)*
                let __count = __reader.read_field_count()?;
                for _ in 0..__count {
                    let __name = __reader.read_name()?;
                    let __marker = __reader.read_marker()?;
                    match __name {
                        #(#match_arms)*
                        _ => __reader.skip_value(__marker)?,
                    }
                }
                ::core::result::Result::Ok(Self { #(#constructors,)* })
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

        impl #impl_generics #krate::EpeeValue for #name #ty_generics #where_clause {
            const MARKER: #krate::Marker = #krate::Marker::scalar(#krate::TypeCode::Object);

            #[inline]
            fn read(
                __reader: &mut #krate::Reader<'_>,
                __marker: #krate::Marker,
            ) -> #krate::Result<Self> {
                #krate::read_object_value(__reader, __marker)
            }

            #[inline]
            fn write<__B: #krate::bytes::BufMut>(&self, __writer: &mut __B) -> #krate::Result<()> {
                <Self as #krate::EpeeObject>::write_fields(self, __writer)
            }
        }
    })
}

/// The path to `umbra_epee`: `::umbra_epee` unless `#[epee(crate = "path")]` says otherwise.
fn crate_path(input: &DeriveInput) -> syn::Result<syn::Path> {
    let mut path: syn::Path = syn::parse_quote!(::umbra_epee);
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("epee")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                path = meta.value()?.parse::<LitStr>()?.parse()?;
                Ok(())
            } else {
                Err(meta.error("unknown epee attribute on a struct; expected `crate`"))
            }
        })?;
    }
    Ok(path)
}
