//! Values steps provide to tasks, by type.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::RwLock;

/// Values by type, shared by the steps and every task of a worker; cheap to clone.
#[derive(Clone, Default)]
pub struct Resources(Arc<RwLock<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>>);

impl fmt::Debug for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Resources({} values)", self.0.read().len())
    }
}

impl Resources {
    /// Stores `value`, replacing one of the same type.
    pub(crate) fn insert<T: Send + Sync + 'static>(&self, value: T) {
        self.0.write().insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The value of type `T`, if one was provided.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let value = self.0.read().get(&TypeId::of::<T>())?.clone();
        value.downcast::<T>().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_back_by_type() {
        let resources = Resources::default();
        resources.insert(7u32);
        resources.insert(String::from("db"));
        assert_eq!(resources.get::<u32>().as_deref(), Some(&7));
        assert_eq!(
            resources.get::<String>().as_deref().map(String::as_str),
            Some("db")
        );
        assert!(resources.get::<u64>().is_none());
    }
}
