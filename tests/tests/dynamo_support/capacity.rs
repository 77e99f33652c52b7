//! What a client's requests cost in capacity units, as DynamoDB Local
//! reports them: an interceptor that asks for `ReturnConsumedCapacity=TOTAL`
//! on every item operation and sums `ConsumedCapacity` from the outputs.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::delete_item::{
    DeleteItemError, DeleteItemInput, DeleteItemOutput,
};
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::update_item::{
    UpdateItemError, UpdateItemInput, UpdateItemOutput,
};
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use aws_smithy_runtime_api::box_error::BoxError;

/// Capacity units consumed since the last [`Capacity::take`].
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Units {
    /// Write units DynamoDB Local reported (successful writes).
    pub wcu_reported: f64,
    /// Writes that failed their condition: DynamoDB charges them, but the
    /// error carries no `ConsumedCapacity`. By AWS's rule one costs the
    /// larger of the existing and the written item, 1 WCU per KB rounded
    /// up, at least 1; the items of these tests are far below 1 KB, so 1.
    pub wcu_counted: f64,
    /// Read units DynamoDB Local reported.
    pub rcu: f64,
}

impl Units {
    /// All write units, reported and counted.
    pub fn wcu(&self) -> f64 {
        self.wcu_reported + self.wcu_counted
    }
}

#[derive(Debug, Default, Clone)]
pub struct Capacity(Arc<Mutex<Units>>);

impl Capacity {
    pub fn take(&self) -> Units {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn add(&self, f: impl FnOnce(&mut Units)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

fn units(c: Option<&ConsumedCapacity>) -> f64 {
    c.and_then(ConsumedCapacity::capacity_units).unwrap_or(0.0)
}

impl Intercept for Capacity {
    fn name(&self) -> &'static str {
        "idem-tests capacity counter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let total = Some(ReturnConsumedCapacity::Total);
        let input = context.input_mut();
        if let Some(i) = input.downcast_mut::<PutItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<UpdateItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<DeleteItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<GetItemInput>() {
            i.return_consumed_capacity = total;
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        match context.output_or_error() {
            Ok(out) => {
                let write = out
                    .downcast_ref::<PutItemOutput>()
                    .map(|o| units(o.consumed_capacity()))
                    .or_else(|| {
                        out.downcast_ref::<UpdateItemOutput>()
                            .map(|o| units(o.consumed_capacity()))
                    })
                    .or_else(|| {
                        out.downcast_ref::<DeleteItemOutput>()
                            .map(|o| units(o.consumed_capacity()))
                    });
                let read = out
                    .downcast_ref::<GetItemOutput>()
                    .map(|o| units(o.consumed_capacity()));
                self.add(|u| {
                    u.wcu_reported += write.unwrap_or(0.0);
                    u.rcu += read.unwrap_or(0.0);
                });
            }
            Err(err) => {
                let Some(err) = err.as_operation_error() else {
                    return Ok(());
                };
                let failed_condition = err
                    .downcast_ref::<PutItemError>()
                    .is_some_and(PutItemError::is_conditional_check_failed_exception)
                    || err
                        .downcast_ref::<UpdateItemError>()
                        .is_some_and(UpdateItemError::is_conditional_check_failed_exception)
                    || err
                        .downcast_ref::<DeleteItemError>()
                        .is_some_and(DeleteItemError::is_conditional_check_failed_exception);
                if failed_condition {
                    self.add(|u| u.wcu_counted += 1.0);
                }
            }
        }
        Ok(())
    }
}
