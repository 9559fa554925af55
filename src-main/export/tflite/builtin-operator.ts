/**
 * An operator of a builtin op as TFLite's converter writes it: without a
 * custom_options vector. The object API of the generated schema always packs
 * one (empty), and LiteRT's loader reports every such operator as "builtin
 * operator X with custom options".
 */
import type * as flatbuffers from 'flatbuffers';
import { Operator, OperatorT } from './schema/generated/schema_generated.js';

export class BuiltinOperatorT extends OperatorT {
  override pack(builder: flatbuffers.Builder): flatbuffers.Offset {
    const inputs = Operator.createInputsVector(builder, this.inputs);
    const outputs = Operator.createOutputsVector(builder, this.outputs);
    const options = builder.createObjectOffset(this.builtinOptions);
    Operator.startOperator(builder);
    Operator.addOpcodeIndex(builder, this.opcodeIndex);
    Operator.addInputs(builder, inputs);
    Operator.addOutputs(builder, outputs);
    Operator.addBuiltinOptionsType(builder, this.builtinOptionsType);
    Operator.addBuiltinOptions(builder, options);
    return Operator.endOperator(builder);
  }
}
